// The search API through real HTTP on 127.0.0.1: every parameter, modifier, prefix and error, each asked as
// GET, POST form and POST JSON (which must agree), on a hand-made folder whose answers are worked out by hand
// in the comments of test/helpers/searchData.ts.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { FastifyReply } from "fastify";
import { beforeAll, describe, expect, it } from "vitest";
import { AnswerBuffer } from "../../src/serve/reply.js";
import { officialValidator } from "../helpers/officialSchema.js";
import { ALL, ENDPOINT, PATIENTS, STUDIES, handMadeFolder, s, uid } from "../helpers/searchData.js";
import { type Answer, type TestServer, getJson, ids, serveFolder } from "../helpers/serve.js";

let open: TestServer;
let seeded: TestServer;
let folder: string;

beforeAll(async () => {
  // Compiled first: compiling blocks this process (client and server) for seconds, long enough for kept-alive
  // connections to time out under a request.
  officialValidator();
  folder = handMadeFolder();
  open = await serveFolder(folder, { allowOpenSearch: true });
  seeded = await serveFolder(folder);
});

const but = (...numbers: number[]) => ALL.filter((id) => !s(...numbers).includes(id));

/** The same search three ways; they must give the same total and entries. Returns the GET answer. */
async function threeWays(server: TestServer, query: string, headers?: Record<string, string>): Promise<Answer> {
  const [get, form, json] = await Promise.all([server.get(`ImagingStudy?${query}`, headers), server.postForm(query, headers), server.postJson(query, headers)]);
  expect(form.status, `form: ${form.text}`).toBe(get.status);
  expect(json.status, `json: ${json.text}`).toBe(get.status);
  if (get.status === 200) {
    for (const other of [form, json]) {
      expect(other.json.total).toBe(get.json.total);
      expect(other.json.entry).toEqual(get.json.entry);
      expect(other.json.link.map((l: { relation: string }) => l.relation)).toEqual(get.json.link.map((l: { relation: string }) => l.relation));
    }
  } else {
    expect(form.json).toEqual(get.json);
    expect(json.json).toEqual(get.json);
  }
  return get;
}

async function matches(query: string, expected: readonly string[], server = open): Promise<void> {
  const answer = await threeWays(server, query);
  expect(answer.status, answer.text).toBe(200);
  expect(ids(answer.json).sort(), query).toEqual([...expected].sort());
  expect(answer.json.total).toBe(expected.length);
}

describe("dates (R4 search.html#date): a value is a range; no zone means Europe/Zurich, the folder's zone", () => {
  const cases: Array<[string, string[]]> = [
    ["started=2024-03-15", s(1, 2)],
    ["started=eq2024-03-15", s(1, 2)],
    ["started=2024-03", s(1, 2, 3, 4)],
    ["started=2024", s(1, 2, 3, 4)],
    ["started=2023", s(6)],
    ["started=gt2024-03-15", s(3)],
    ["started=ge2024-03-15", s(1, 2, 3)],
    ["started=lt2024-03-15", s(4, 6, 7, 8, 9)],
    ["started=le2024-03-15", s(1, 2, 4, 6, 7, 8, 9)],
    ["started=sa2024-03-15", s(3)],
    ["started=eb2024-03-15", s(4, 6, 7, 8, 9)],
    // ne never matches a study without started (s5)
    ["started=ne2024-03-15", s(3, 4, 6, 7, 8, 9)],
    // ap widens by 10 % of the distance to now (years): Dec 2023 to June 2024, so neither July 2023 nor 2022
    ["started=ap2024-03-15", s(1, 2, 3, 4)],
    ["started=gt2024-03-15T10:00", s(1, 2, 3)],
    ["started=2024-03-15T10:15", s(1)],
    ["started=2024-03-15T10:15:30+01:00", s(1)],
    ["started=2024-03-15T09:15:30Z", s(1)],
    ["started=2024-03-15T10:15:30.000+01:00", []],
    ["started=2024-03-14T23:59:59%2B01:00", s(4)],
    ["started=lt2023-01-01,gt2024-03-15", s(3, 7, 8, 9)],
    ["started=ge2024-03-01&started=lt2024-03-15", s(4)],
    ["started:missing=true", s(5)],
    ["started:missing=false", but(5)],
  ];
  for (const [query, expected] of cases) it(query, () => matches(query, expected));

  it("an unencoded + in the zone (a space once decoded) still means +", () => matches(`started=2024-03-15T10:15:30+01:00&_id=${uid(1)}`, s(1)));
});

describe("tokens: code, system|code, |code, system|; comma is OR, repetition is AND; case-sensitive", () => {
  const DCM = "http://dicom.nema.org/resources/ontology/DCM";
  const cases: Array<[string, string[]]> = [
    ["modality=CT", s(1, 3)],
    ["modality=SR", s(1)],
    ["modality=CT,MR", s(1, 2, 3)],
    ["modality=CT&modality=PT", s(3)],
    [`modality=${DCM}|CT`, s(1, 3)],
    ["modality=XX", s(5)],
    ["modality=|XX", s(5)],
    ["modality=|CT", []],
    [`modality=${DCM}|`, s(1, 2, 3, 4, 5, 6, 7, 9)],
    ["modality=ct", []],
    ["modality:not=CT", s(2, 4, 5, 6, 7, 8, 9)],
    ["modality:not=CT,MR", s(4, 5, 6, 7, 8, 9)],
    ["modality:missing=true", s(8)],
    ["modality:missing=false", but(8)],
    ["status=available", but(7)],
    ["status=registered", s(7)],
    ["status=http://hl7.org/fhir/imagingstudy-status|registered", s(7)],
    ["status=|available", []],
    ["status:not=available", s(7)],
    ["identifier=ACC-1", s(1)],
    ["identifier=urn:oid:9.9|ACC-1", s(1)],
    ["identifier=urn:oid:8.8|ACC-1", []],
    ["identifier=|ACC-2", s(2)],
    ["identifier=|ACC-1", []],
    ["identifier=urn:oid:9.9|", s(1)],
    ["identifier=ACC-1,ACC-3", s(1, 3)],
    ["identifier=S1", s(1)],
    [`identifier=urn:dicom:uid|urn:oid:${uid(4)}`, s(4)],
    [`identifier=urn:dicom:uid|${uid(4)}`, s(4)],
    [`identifier=${uid(4)}`, []],
    ["identifier=A\\,B\\|C", s(3)],
    ["identifier=Z%C3%BCrich-5", s(5)],
    ["identifier:not=ACC-1", but(1)],
    ["identifier:missing=true", s(9)],
    ["patient=p1", s(1, 2, 3, 7)],
    ["patient=Patient/p1", s(1, 2, 3, 7)],
    ["patient=p1,Patient/p2", s(1, 2, 3, 4, 5, 7)],
    ["patient=http://elsewhere.example/fhir/Patient/p1", []],
    ["patient=p-missing", s(9)],
    ["patient=p9", []],
    ["patient:missing=true", s(8)],
    ["patient.identifier=MRN-1", s(1, 2, 3, 7)],
    ["patient.identifier=urn:oid:1.2.3|MRN-1", s(1, 2, 3, 7)],
    ["patient.identifier=|MRN-2", s(4, 5)],
    ["patient.identifier=|MRN-1", []],
    ["patient.identifier=MRN-1,MRN-2", s(1, 2, 3, 4, 5, 7)],
    ["patient.identifier:not=MRN-1", s(4, 5, 6, 8, 9)],
    // p3 has no identifier, a Group is no Patient, and p-missing is not in Patient.ndjson
    ["patient.identifier:missing=true", s(6, 8, 9)],
    [`instance=${uid(1)}.1.2`, s(1)],
    [`instance=|${uid(1)}.1.2`, s(1)],
    [`instance=urn:x|${uid(1)}.1.2`, []],
    [`instance=${uid(6)}.1.1`, s(6)],
    [`instance=${uid(6)}.1.2`, []],
    ["instance:missing=true", s(8, 9)],
    [`series=${uid(3)}.2`, s(3)],
    [`series=|${uid(3)}.2`, s(3)],
    [`series:not=${uid(3)}.2`, but(3)],
    ["series:missing=true", s(8)],
    [`_id=${uid(2)}`, s(2)],
    [`_id=${uid(2)},${uid(5)}`, s(2, 5)],
    [`_id:not=${uid(2)}`, but(2)],
    ["patient=p1&modality=CT", s(1, 3)],
    ["patient.identifier=MRN-1&started=ge2024-03-15", s(1, 2, 3)],
    ["identifier=ACC-1&patient=p2", []],
  ];
  for (const [query, expected] of cases) it(query, () => matches(query, expected));

  it("patient=[base]Patient/{id} with this server's base", async () => {
    await matches(`patient=${encodeURIComponent(`${open.base}Patient/p2`)}`, s(4, 5));
  });
});

describe("the seed's rule: patient, patient.identifier or identifier is required", () => {
  for (const query of ["modality=CT", `_id=${uid(1)}`, "identifier:missing=false", "patient:missing=false", "identifier:not=ACC-1", "started=2024", ""]) {
    it(`refuses ${query || "an empty search"} with a 400 OperationOutcome saying so`, async () => {
      const answer = await threeWays(seeded, query);
      expect(answer.status).toBe(400);
      expect(answer.json.resourceType).toBe("OperationOutcome");
      expect(answer.json.issue[0].diagnostics).toMatch(/must include patient, patient\.identifier or identifier/);
    });
  }
  for (const [query, expected] of [
    ["identifier=ACC-2", s(2)],
    ["patient=p2", s(4, 5)],
    ["patient.identifier=MRN-2&modality=US", s(4)],
  ] as const) {
    it(`answers ${query}`, () => matches(query, expected, seeded));
  }
});

describe("malformed searches are a 400 naming the parameter", () => {
  const cases: Array<[string, RegExp]> = [
    ["started=2020-13", /^started: "2020-13" is not a date/],
    ["started=2024-02-30", /^started: "2024-02-30" is not a date/],
    ["started=2024-03-15T25:00", /^started: .* is not a date/],
    ["started=xx2024", /^started: unknown prefix "xx"/],
    ["started=2024-03-15T10:15:30+15:00", /^started: .* is not a date/],
    ["started:exact=2024", /^started:exact: the modifier :exact is not supported/],
    ["modality:text=CT", /^modality:text: the modifier :text is not supported/],
    ["identifier:of-type=x|MR|1", /^identifier:of-type: the modifier :of-type is not supported/],
    ["patient:not=p1", /^patient:not: the modifier :not is not supported on patient/],
    ["patient.identifier:above=x", /^patient\.identifier:above: the modifier :above/],
    ["modality:missing=maybe", /^modality:missing takes true or false/],
    ["modality=CT,", /^modality: each comma-separated value/],
    ["identifier=a|b|c", /^identifier: each comma-separated value/],
    ["patient=Group/g1", /^patient: each value must be Patient\/\{id\}/],
    ["_count=abc", /^_count=abc: use a whole number/],
    ["_count=-1", /^_count=-1/],
    ["_count=1&_count=2", /^_count is given more than once/],
    ["_sort=description", /^_sort=description: sort by started/],
    ["_summary=true", /^_summary=true is not supported/],
    ["_cursor=not-a-cursor", /^_cursor is not a cursor of this search/],
    ["_total=maybe", /^_total=maybe/],
    ["_count:exact=1", /^_count:exact: _count takes no modifier/],
  ];
  for (const [query, message] of cases) {
    it(query, async () => {
      const answer = await threeWays(open, `patient=p1&${query}`);
      expect(answer.status).toBe(400);
      expect(answer.headers.get("content-type")).toBe("application/fhir+json");
      expect(answer.json).toMatchObject({ resourceType: "OperationOutcome", issue: [{ severity: "error" }] });
      expect(answer.json.issue[0].diagnostics).toMatch(message);
    });
  }
});

describe("unknown parameters (R4 search.html#errors)", () => {
  it("are ignored and named in an OperationOutcome entry with search.mode outcome", async () => {
    const answer = await threeWays(open, "patient=p2&_elements=id&bodysite=x");
    expect(ids(answer.json)).toEqual(s(4, 5));
    const outcome = answer.json.entry.find((e: { search: { mode: string } }) => e.search.mode === "outcome");
    expect(outcome.resource.resourceType).toBe("OperationOutcome");
    expect(outcome.resource.issue.map((i: { diagnostics: string }) => i.diagnostics)).toEqual([
      "unknown search parameter _elements was ignored",
      "unknown search parameter bodysite was ignored",
    ]);
  });

  it("are a 400 with Prefer: handling=strict", async () => {
    const answer = await threeWays(open, "patient=p2&bodysite=x", { prefer: "return=representation, handling=strict" });
    expect(answer.status).toBe(400);
    expect(answer.json.issue[0].diagnostics).toMatch(/unknown search parameter bodysite/);
    expect((await threeWays(open, "patient=p2", { prefer: "handling=strict" })).status).toBe(200);
  });

  it("an empty value is ignored like an unknown parameter, and does not satisfy the seed's rule", async () => {
    const answer = await threeWays(seeded, "identifier=&patient=p2");
    expect(ids(answer.json)).toEqual(s(4, 5));
    expect(JSON.stringify(answer.json.entry.at(-1))).toMatch(/identifier has no value and was ignored/);
    expect((await threeWays(seeded, "identifier=")).status).toBe(400);
  });

  it("unsupported _include values are ignored with a warning (400 when strict)", async () => {
    const answer = await threeWays(open, "patient=p2&_include=ImagingStudy:referrer");
    expect(answer.status).toBe(200);
    expect(ids(answer.json, "include")).toEqual([]);
    expect(JSON.stringify(answer.json)).toMatch(/_include=ImagingStudy:referrer is not supported/);
    expect((await threeWays(open, "patient=p2&_include=ImagingStudy:referrer", { prefer: "handling=strict" })).status).toBe(400);
  });
});

describe("the searchset Bundle", () => {
  it("has an exact total, fullUrl [base]ImagingStudy/{id}, the resource as its NDJSON line, and search.mode match", async () => {
    const answer = await open.get("ImagingStudy?patient=p1&_sort=_id");
    expect(answer.status).toBe(200);
    expect(answer.headers.get("content-type")).toBe("application/fhir+json");
    expect(answer.headers.get("cache-control")).toBe("no-store");
    expect(answer.json).toMatchObject({ resourceType: "Bundle", type: "searchset", total: 4 });
    for (const entry of answer.json.entry) {
      expect(entry.fullUrl).toBe(`${open.base}ImagingStudy/${entry.resource.id}`);
      expect(entry.search).toEqual({ mode: "match" });
      // Byte for byte: the NDJSON line appears verbatim in the response.
      const line = JSON.stringify(STUDIES.find((study) => study.id === entry.resource.id));
      expect(answer.text).toContain(`"resource":${line},`);
    }
    expect(answer.json.link).toEqual([{ relation: "self", url: `${open.base}ImagingStudy?patient=p1&_sort=_id` }]);
    expect(officialValidator()(answer.json), JSON.stringify(officialValidator().errors)).toBe(true);
  });

  it("_sort: started by the start of its range, -started by its end, missing last either way; _id and -_id", async () => {
    const order = async (query: string) => ids((await threeWays(open, query)).json);
    expect(await order("patient=p1&_sort=started")).toEqual(s(7, 2, 1, 3));
    expect(await order("patient=p1&_sort=-started")).toEqual(s(3, 2, 1, 7));
    expect(await order("_sort=started")).toEqual(s(8, 9, 7, 6, 4, 2, 1, 3, 5));
    expect(await order("_sort=-started")).toEqual(s(3, 2, 1, 4, 6, 7, 9, 8, 5));
    expect(await order("_sort=_id")).toEqual(s(1, 2, 3, 4, 5, 6, 7, 8, 9));
    expect(await order("_sort=-_id")).toEqual(s(9, 8, 7, 6, 5, 4, 3, 2, 1));
    expect(await order("_sort=-started,-_id&started:missing=false")).toEqual(s(3, 2, 1, 4, 6, 7, 9, 8));
    // Without _sort: by _id.
    expect(await order("patient=p2")).toEqual(s(4, 5));
  });

  it("_include adds each page's Patients and Endpoint once, with search.mode include; a missing one is skipped", async () => {
    const answer = await threeWays(open, "patient=p1,p2,p-missing&_include=ImagingStudy:patient&_include=ImagingStudy:endpoint&_sort=_id");
    expect(ids(answer.json)).toEqual(s(1, 2, 3, 4, 5, 7, 9));
    expect(ids(answer.json, "include")).toEqual(["p1", "p2", "e1"]);
    const included = answer.json.entry.filter((e: { search: { mode: string } }) => e.search.mode === "include");
    expect(included.map((e: { fullUrl: string }) => e.fullUrl)).toEqual([`${open.base}Patient/p1`, `${open.base}Patient/p2`, `${open.base}Endpoint/e1`]);
    expect(answer.text).toContain(`"resource":${JSON.stringify(PATIENTS[0])},`);
    expect(answer.text).toContain(`"resource":${JSON.stringify(ENDPOINT)},`);
    expect(officialValidator()(answer.json)).toBe(true);

    // Per page: the Patients of that page's matches, once each, in the order they are first referenced.
    const pages = [(await open.get("ImagingStudy?patient=p1,p2&_include=ImagingStudy:patient&_count=2&_sort=_id")).json];
    while (pages.at(-1).link[1]) pages.push(await getJson(pages.at(-1).link[1].url));
    expect(pages.map((page) => ids(page))).toEqual([s(1, 2), s(3, 4), s(5, 7)]);
    expect(pages.map((page) => ids(page, "include"))).toEqual([["p1"], ["p1", "p2"], ["p2", "p1"]]);
  });

  it("_summary=count and _count=0 give the total and no entries", async () => {
    for (const query of ["patient=p1&_summary=count", "patient=p1&_count=0"]) {
      const answer = await threeWays(open, query);
      expect(answer.json.total).toBe(4);
      expect(answer.json.entry).toBeUndefined();
      expect(answer.json.link.map((l: { relation: string }) => l.relation)).toEqual(["self"]);
    }
  });

  it("_count above 1000 is capped at 1000, with a warning", async () => {
    const answer = await threeWays(open, "patient=p1&_count=5000");
    expect(answer.json.total).toBe(4);
    expect(JSON.stringify(answer.json)).toMatch(/_count=5000 was capped at 1000/);
  });

  it("next links: plain GET URLs carrying every parameter; every match exactly once; exact total on each page; also after a POST", async () => {
    for (const start of [
      () => open.get("ImagingStudy?status=available&_sort=-started&_count=2&unknown=1"),
      () => open.postForm("status=available&_sort=-started&_count=2&unknown=1"),
      () => open.postJson("status=available&_sort=-started&_count=2&unknown=1"),
    ]) {
      let page = (await start()).json;
      const seen: string[] = [];
      for (;;) {
        expect(page.total).toBe(8);
        seen.push(...ids(page));
        const next = page.link.find((l: { relation: string }) => l.relation === "next");
        if (!next) break;
        expect(next.url).toMatch(
          new RegExp(`^${open.base.replace(/[.]/g, "\\.")}ImagingStudy\\?status=available&_sort=-started&_count=2&unknown=1&_cursor=[A-Za-z0-9_-]+$`),
        );
        page = await getJson(next.url);
      }
      expect(seen).toEqual(s(3, 2, 1, 4, 6, 9, 8, 5));
      expect(new Set(seen).size).toBe(8);
    }
  });

  it("a cursor belongs to its sort: reused with another _sort it is a 400", async () => {
    const first = await open.get("ImagingStudy?patient=p1&_count=1&_sort=started");
    const cursor = new URL(first.json.link[1].url).searchParams.get("_cursor");
    const answer = await open.get(`ImagingStudy?patient=p1&_count=1&_sort=-started&_cursor=${cursor}`);
    expect(answer.status).toBe(400);
    expect(answer.json.issue[0].diagnostics).toMatch(/_cursor/);
  });
});

describe("answers written into one reused buffer", () => {
  const reply = (writableEnded: boolean, writableLength: number) => ({ raw: { writableEnded, writableLength } }) as unknown as FastifyReply;

  it("is taken again only once the last answer ended and went to the socket whole", () => {
    const answers = new AnswerBuffer();
    const first = answers.take(100);
    first.fill(1);
    answers.sent(reply(true, 0));
    const second = answers.take(200);
    expect(second.buffer).toBe(first.buffer);
    // Still queued in Node (a client not reading): the next answer must not write over it.
    answers.sent(reply(true, 50));
    second.fill(2);
    const third = answers.take(100);
    expect(third.buffer).not.toBe(second.buffer);
    // Not ended yet (a hook still holds the answer): the same.
    answers.sent(reply(false, 0));
    expect(answers.take(10).buffer).not.toBe(third.buffer);
    expect(second.every((b) => b === 2)).toBe(true);
  });

  it("every search of a folder answers its own Bundle, one after another and many at once", async () => {
    const queries = STUDIES.map((study) => `_id=${study.id}`);
    const alone = await Promise.all(queries.map(async (q) => (await open.get(`ImagingStudy?${q}`)).text));
    for (let round = 0; round < 3; round++) {
      const together = await Promise.all(queries.map(async (q) => (await open.get(`ImagingStudy?${q}`)).text));
      expect(together).toEqual(alone);
    }
    expect(new Set(alone).size).toBe(queries.length);
  });
});

describe("reads, metadata and HTTP errors", () => {
  it("a study line written over in place under the server is a 500 saying what to do, never other bytes", async () => {
    const changed = handMadeFolder();
    const server = await serveFolder(changed, { allowOpenSearch: true });
    const path = join(changed, "ImagingStudy.ndjson");
    const text = readFileSync(path, "utf8");
    writeFileSync(path, `x${text.slice(0, -1)}`, { flag: "r+" });
    const answer = await server.get(`ImagingStudy?_id=${uid(6)}`);
    expect(answer.status).toBe(500);
    expect(answer.json.issue[0].diagnostics).toMatch(/ImagingStudy.ndjson changed while it was being served: run dcm2fhir index/);
    expect((await server.get(`ImagingStudy/${uid(6)}`)).status).toBe(500);
  });

  it("GET ImagingStudy/{id}, Patient/{id}, Endpoint/{id}: the NDJSON line; 404 OperationOutcome for an unknown id", async () => {
    for (const [path, resource] of [
      [`ImagingStudy/${uid(6)}`, STUDIES[5]],
      ["Patient/p2", PATIENTS[1]],
      ["Endpoint/e1", ENDPOINT],
    ] as const) {
      const answer = await open.get(path);
      expect(answer.status).toBe(200);
      expect(answer.headers.get("content-type")).toBe("application/fhir+json");
      expect(answer.text).toBe(JSON.stringify(resource));
    }
    for (const path of ["ImagingStudy/1.2.3.4", "Patient/nobody", "Endpoint/e2", "Patient/not an id!"]) {
      const answer = await open.get(path);
      expect(answer.status).toBe(404);
      expect(answer.json).toMatchObject({ resourceType: "OperationOutcome", issue: [{ severity: "error", code: "not-found" }] });
    }
  });

  it("GET metadata: a valid CapabilityStatement naming exactly the supported parameters", async () => {
    const answer = await open.get("metadata");
    expect(answer.status).toBe(200);
    expect(answer.json.fhirVersion).toBe("4.0.1");
    // HL7's published R4 schema lists FHIR versions up to 4.0.0 only: it predates the 4.0.1 technical correction.
    expect(officialValidator()({ ...answer.json, fhirVersion: "4.0.0" }), JSON.stringify(officialValidator().errors)).toBe(true);
    const imagingStudy = answer.json.rest[0].resource.find((r: { type: string }) => r.type === "ImagingStudy");
    expect(imagingStudy.searchParam.map((p: { name: string }) => p.name).sort()).toEqual(
      ["_id", "identifier", "instance", "modality", "patient", "patient.identifier", "series", "started", "status"].sort(),
    );
    expect(imagingStudy.searchInclude).toEqual(["ImagingStudy:patient", "ImagingStudy:endpoint"]);
    expect(answer.json.implementation.url).toBe(open.base);
  });

  it("404 for an unknown path; 405 with Allow for a method a known path does not offer", async () => {
    expect((await open.get("Observation?patient=p1")).status).toBe(404);
    expect((await open.get("")).json.resourceType).toBe("OperationOutcome");
    for (const [method, path, allow] of [
      ["DELETE", `ImagingStudy/${uid(1)}`, "GET, HEAD"],
      ["PUT", "Patient/p1", "GET, HEAD"],
      ["POST", "ImagingStudy", "GET, HEAD"],
      ["GET", "ImagingStudy/_search", "POST"],
      ["PATCH", "metadata", "GET, HEAD"],
    ] as const) {
      const answer = await open.request(method, path, method === "GET" ? {} : { body: "{}", headers: { "content-type": "application/json" } });
      expect(answer.status, `${method} ${path}`).toBe(405);
      expect(answer.headers.get("allow")).toBe(allow);
      expect(answer.json.resourceType).toBe("OperationOutcome");
    }
  });

  it("415 for a body that is neither a form nor JSON; 400 for JSON that is not the object of arrays, or not JSON", async () => {
    const text = await open.request("POST", "ImagingStudy/_search", { body: "patient=p1", headers: { "content-type": "text/plain" } });
    expect(text.status).toBe(415);
    expect(text.json.resourceType).toBe("OperationOutcome");
    const fhirJson = await open.request("POST", "ImagingStudy/_search", { body: "{}", headers: { "content-type": "application/fhir+json" } });
    expect(fhirJson.status).toBe(415);
    for (const body of ['{"patient":"p1"}', '["patient=p1"]', '{"patient":[1]}', "{not json", ""]) {
      const answer = await open.request("POST", "ImagingStudy/_search", { body, headers: { "content-type": "application/json" } });
      expect(answer.status, body).toBe(400);
      expect(answer.json.resourceType).toBe("OperationOutcome");
    }
  });

  it("a form with a charset parameter, and parameters in the URL of a POST, count too (R4: combined)", async () => {
    const answer = await open.request("POST", "ImagingStudy/_search?modality=CT", {
      body: "patient=p1",
      headers: { "content-type": "application/x-www-form-urlencoded; charset=UTF-8" },
    });
    expect(ids(answer.json)).toEqual(s(1, 3));
  });
});

describe("a bearer token, and a base path", () => {
  it("without the token: 401 OperationOutcome with WWW-Authenticate; metadata stays readable", async () => {
    const secured = await serveFolder(folder, { token: "s3cret-token-value", basePath: "/fhir" });
    expect(secured.base).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/fhir\/$/);
    for (const headers of [undefined, { authorization: "Bearer wrong" }, { authorization: "Basic czNjcmV0" }]) {
      for (const answer of [
        await secured.get("ImagingStudy?patient=p1", headers),
        await secured.postForm("patient=p1", headers),
        await secured.get("Patient/p1", headers),
      ]) {
        expect(answer.status).toBe(401);
        expect(answer.headers.get("www-authenticate")).toBe('Bearer realm="dcm2fhir"');
        expect(answer.json.resourceType).toBe("OperationOutcome");
      }
    }
    const ok = await secured.get("ImagingStudy?patient=p1", { authorization: "Bearer s3cret-token-value" });
    expect(ok.status).toBe(200);
    expect(ok.json.entry[0].fullUrl).toBe(`${secured.base}ImagingStudy/${uid(1)}`);
    expect(ok.json.link[0].url).toBe(`${secured.base}ImagingStudy?patient=p1`);
    expect((await secured.get("metadata")).status).toBe(200);
    // Outside the base path there is nothing.
    expect((await fetch(secured.base.replace("/fhir/", "/ImagingStudy?patient=p1"), { headers: { authorization: "Bearer s3cret-token-value" } })).status).toBe(
      404,
    );
  });
});
