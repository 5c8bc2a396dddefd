// Bad input never takes the server down: huge bodies, thousands of parameters, deep paging, bad UTF-8, slow
// clients, malformed HTTP and 200 concurrent connections each get a clear OperationOutcome (or their answer),
// and the server answers normally afterwards.
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { beforeAll, describe, expect, it } from "vitest";
import { generateStudies } from "../../scripts/bench/gen-studies.js";
import { buildSearchIndex } from "../../src/index/searchIndex.js";
import { tempDir } from "../helpers/run.js";
import { handMadeFolder, s } from "../helpers/searchData.js";
import { type Answer, type TestServer, getJson, ids, serveFolder } from "../helpers/serve.js";

let server: TestServer;
let big: TestServer;
let bigStudies: number;

beforeAll(async () => {
  server = await serveFolder(handMadeFolder(), { allowOpenSearch: true, limits: { requestMs: 1500, headersMs: 1000, checkMs: 100 } });
  const folder = tempDir("dcm2fhir-big-");
  bigStudies = generateStudies(folder, 2000, 7).studies;
  buildSearchIndex(folder, `${folder}/.dcm2fhir.search.sqlite`, "Europe/Zurich");
  big = await serveFolder(folder, { allowOpenSearch: true });
});

/** Still up and answering correctly. */
async function stillAnswers(): Promise<void> {
  const answer = await server.get("ImagingStudy?patient=p2");
  expect(answer.status).toBe(200);
  expect(ids(answer.json)).toEqual(s(4, 5));
}

/** Raw bytes on a new connection; resolves with everything the server sent before closing. */
function raw(base: string, chunks: Array<string | Buffer>, options: { pauseMs?: number; keepOpenMs?: number } = {}): Promise<string> {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), "127.0.0.1");
    let received = "";
    socket.on("data", (d) => (received += d.toString("latin1")));
    socket.on("error", (e) => (received ? resolve(received) : reject(e)));
    socket.on("close", () => resolve(received));
    socket.on("connect", async () => {
      for (const chunk of chunks) {
        socket.write(chunk);
        if (options.pauseMs) await new Promise((r) => setTimeout(r, options.pauseMs));
      }
      if (options.keepOpenMs === undefined) socket.end();
    });
  });
}

const statusOf = (response: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1]);
const outcomeOf = (response: string) => JSON.parse(response.slice(response.indexOf("\r\n\r\n") + 4));

/** A POST whose body may be refused before it is all sent: the answer, whatever happens to the rest of the upload. */
function post(base: string, body: Buffer, contentType: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${base}ImagingStudy/_search`,
      { method: "POST", headers: { "content-type": contentType, "content-length": body.length } },
      (res) => {
        let text = "";
        res.on("data", (d) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode!, body: text }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

describe("huge bodies", () => {
  it("a 20 MB body is a 413 OperationOutcome", async () => {
    const answer = await post(server.base, Buffer.alloc(20 << 20, "a"), "application/x-www-form-urlencoded");
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body)).toMatchObject({ resourceType: "OperationOutcome", issue: [{ code: "too-long" }] });
    await stillAnswers();
  });

  it("a chunked body that grows past the limit, too", async () => {
    const response = await raw(server.base, [
      "POST /ImagingStudy/_search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
      ...Array.from({ length: 5 }, () => `100000\r\n${"a".repeat(0x100000)}\r\n`),
      "0\r\n\r\n",
    ]);
    expect(statusOf(response)).toBe(413);
    expect(outcomeOf(response).resourceType).toBe("OperationOutcome");
    await stillAnswers();
  });
});

describe("thousands of parameters", () => {
  it("are a 400 OperationOutcome in a query string, a form and a JSON body", async () => {
    const many = Array.from({ length: 5000 }, (_, i) => `x${i}=1`).join("&");
    for (const answer of [
      await server.get(`ImagingStudy?patient=p1&${many}`),
      await server.postForm(`patient=p1&${many}`),
      await server.postJson(`patient=p1&${many}`),
      await server.postForm(`patient=p1&${Array.from({ length: 60_000 }, () => "modality=CT").join("&")}`),
    ]) {
      expect(answer.status).toBe(400);
      expect(answer.json.issue[0]).toMatchObject({ code: "too-costly", diagnostics: "more than 1000 parameters in one search" });
    }
    const filters = await server.get(`ImagingStudy?patient=p1&${Array.from({ length: 100 }, () => "modality:not=XX").join("&")}`);
    expect(filters.status).toBe(400);
    expect(filters.json.issue[0].diagnostics).toBe("more than 64 search parameters in one search");
    const alternatives = await server.postForm(`patient=${Array.from({ length: 2000 }, (_, i) => `p${i}`).join(",")}`);
    expect(alternatives.status).toBe(400);
    expect(alternatives.json.issue[0].diagnostics).toMatch(/^patient has more than 1000 comma-separated values/);
    await stillAnswers();
  });

  it("a thousand values of one parameter are answered (one JSON argument, not a thousand SQL terms)", async () => {
    const answer = await server.postForm(
      `patient=${[...Array.from({ length: 998 }, (_, i) => `p${i + 10}`), "p2", "Patient/p1"].join(",")}&modality=CT,US,${Array.from({ length: 997 }, (_, i) => `M${i}`).join(",")}`,
    );
    expect(answer.status, answer.text).toBe(200);
    expect(ids(answer.json).sort()).toEqual(s(1, 3, 4));
  });

  it("a request line longer than the header limit is a 431 OperationOutcome", async () => {
    const response = await raw(server.base, [`GET /ImagingStudy?patient=p1&${"a=1&".repeat(40_000)} HTTP/1.1\r\nHost: x\r\n\r\n`]);
    expect(statusOf(response)).toBe(431);
    expect(outcomeOf(response).issue[0].diagnostics).toMatch(/POST ImagingStudy\/_search/);
    await stillAnswers();
  });
});

describe("deep paging", () => {
  it("pages of 11 through 2,000 studies: each exactly once, exact total on every page, while other searches run", async () => {
    let url: string | undefined = `${big.base}ImagingStudy?status=available&_count=11&_sort=-started`;
    const seen: string[] = [];
    let pages = 0;
    let previousStarted = Number.POSITIVE_INFINITY;
    while (url) {
      // biome-ignore lint: a Bundle, read loosely
      const [page, ...others]: [any, ...Answer[]] = await Promise.all([
        getJson(url),
        big.get(`ImagingStudy?modality=CT&_count=3&_sort=_id`),
        big.postForm("status=available&_count=50&_sort=started"),
      ]);
      for (const other of others) expect(other.status).toBe(200);
      expect(page.total).toBe(bigStudies);
      for (const entry of page.entry) {
        seen.push(entry.resource.id);
        // -started: by the end of each range, studies without started last.
        const started = entry.resource.started ? Date.parse(entry.resource.started) : Number.NEGATIVE_INFINITY;
        expect(started).toBeLessThanOrEqual(previousStarted);
        previousStarted = started;
      }
      url = page.link.find((l: { relation: string }) => l.relation === "next")?.url;
      pages++;
    }
    expect(pages).toBe(Math.ceil(bigStudies / 11));
    expect(seen).toHaveLength(bigStudies);
    expect(new Set(seen).size).toBe(bigStudies);
  });

  it("pages of _count=1000 follow a cursor (no offset to grow): every study once", async () => {
    let url: string | undefined = `${big.base}ImagingStudy?status=available&_count=1000`;
    const seen = new Set<string>();
    while (url) {
      const page = await getJson(url);
      for (const e of page.entry) seen.add(e.resource.id);
      url = page.link.find((l: { relation: string }) => l.relation === "next")?.url;
      if (url) expect(new URL(url).searchParams.has("_offset")).toBe(false);
    }
    expect(seen.size).toBe(bigStudies);
  });
});

describe("bad UTF-8 and malformed requests", () => {
  it("percent-encoded bytes that are not UTF-8, in a query, a form or a JSON body: a 400 OperationOutcome", async () => {
    const query = await server.get("ImagingStudy?patient=p1&identifier=%FF%FE");
    expect(query.status).toBe(400);
    expect(query.json.issue[0].diagnostics).toMatch(/not valid UTF-8/);
    const form = await server.request("POST", "ImagingStudy/_search", {
      body: Buffer.from([0x70, 0x61, 0x74, 0x69, 0x65, 0x6e, 0x74, 0x3d, 0xc3, 0x28]),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(form.status).toBe(400);
    expect(form.json.issue[0].diagnostics).toMatch(/not valid UTF-8/);
    const json = await server.request("POST", "ImagingStudy/_search", {
      body: Buffer.concat([Buffer.from('{"patient":["'), Buffer.from([0xff]), Buffer.from('"]}')]),
      headers: { "content-type": "application/json" },
    });
    expect(json.status).toBe(400);
    expect(json.json.issue[0].diagnostics).toMatch(/not valid UTF-8/);
    const path = await server.get("Patient/%FF");
    expect([400, 404]).toContain(path.status);
    expect(path.json.resourceType).toBe("OperationOutcome");
    await stillAnswers();
  });

  it("bytes above ASCII sent unencoded in the request target are not HTTP (RFC 9112): a 400 OperationOutcome", async () => {
    for (const value of [Buffer.from("Zürich-5"), Buffer.from([0x5a, 0xfc])]) {
      const response = await raw(server.base, [
        Buffer.concat([Buffer.from("GET /ImagingStudy?identifier="), value, Buffer.from(" HTTP/1.1\r\nHost: x\r\n\r\n")]),
      ]);
      expect(statusOf(response)).toBe(400);
      expect(outcomeOf(response).resourceType).toBe("OperationOutcome");
    }
    await stillAnswers();
  });

  it("bytes that are not HTTP: a 400 OperationOutcome, connection closed", async () => {
    const response = await raw(server.base, ["NOT HTTP AT ALL\r\n\r\n"]);
    expect(statusOf(response)).toBe(400);
    expect(outcomeOf(response).resourceType).toBe("OperationOutcome");
    await stillAnswers();
  });
});

describe("slow clients", () => {
  it("headers that never end and a body that never comes get a 408 OperationOutcome; others are served meanwhile", async () => {
    const slowHeaders = raw(server.base, ["GET /ImagingStudy?patient=p1 HTTP/1.1\r\n", "Host: x\r\n"], { pauseMs: 50, keepOpenMs: 5000 });
    const slowBody = raw(
      server.base,
      ["POST /ImagingStudy/_search HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n", "patient=p1"],
      { keepOpenMs: 5000 },
    );
    for (let i = 0; i < 5; i++) await stillAnswers();
    for (const response of await Promise.all([slowHeaders, slowBody])) {
      expect(statusOf(response)).toBe(408);
      expect(outcomeOf(response).issue[0]).toMatchObject({ code: "timeout" });
    }
    await stillAnswers();
  });
});

describe("200 concurrent connections", () => {
  it("each gets its answer", async () => {
    const one = (i: number) =>
      new Promise<{ status: number; total: number }>((resolve, reject) => {
        const path = i % 2 === 0 ? "/ImagingStudy?patient=p1" : "/ImagingStudy?identifier=ACC-1&_include=ImagingStudy:patient";
        // agent: false: a connection of its own for each request.
        httpRequest(`${server.base.replace(/\/$/, "")}${path}`, { agent: false }, (res) => {
          let text = "";
          res.on("data", (d) => (text += d));
          res.on("end", () => resolve({ status: res.statusCode!, total: JSON.parse(text).total }));
        })
          .on("error", reject)
          .end();
      });
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => one(i)));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(200);
    expect(answers.map((a) => a.total)).toEqual(Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? 4 : 1)));
    await stillAnswers();
  });
});
