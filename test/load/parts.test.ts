// The parts of load on their own: the checkpoint's line ranges, Bundle bodies and answers, the pace of requests,
// and the test server's own promise (atomic transactions) that the load scenarios rely on.
import { appendFileSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleBody, entryAnswer, readBundleAnswer } from "../../src/load/bundle.js";
import { Checkpoint, STATE_DIR } from "../../src/load/checkpoint.js";
import type { LoadEntry } from "../../src/load/ndjson.js";
import { Pace } from "../../src/load/pace.js";
import { LineRanges } from "../../src/load/ranges.js";
import { type FhirTestServer, startFhirServer } from "../helpers/fhirServer.js";
import { tempDir } from "../helpers/run.js";

describe("LineRanges", () => {
  it("holds exactly the lines added, in any order, as few merged ranges", () => {
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 50; round++) {
      const ranges = new LineRanges();
      const lines = new Set<number>();
      for (let i = 0; i < 200; i++) {
        const line = Math.floor(random() * 300);
        ranges.add(line);
        lines.add(line);
      }
      for (let line = -1; line < 302; line++) expect(ranges.has(line), `line ${line}`).toBe(lines.has(line));
      expect(ranges.size).toBe(lines.size);
      const json = ranges.toJSON();
      for (let i = 1; i < json.length; i++) expect(json[i]![0]).toBeGreaterThan(json[i - 1]![1]); // disjoint, not touching
      expect(LineRanges.parse(JSON.parse(JSON.stringify(json)))!.toJSON()).toEqual(json);
    }
    const prefix = new LineRanges();
    for (let line = 0; line < 10_000; line++) prefix.add(line);
    expect(prefix.toJSON()).toEqual([[0, 10_000]]);
  });

  it("refuses what is not a list of [start, end) pairs", () => {
    for (const bad of [null, {}, [[1]], [[2, 1]], [[-1, 3]], [["0", 2]], [[0.5, 2]]]) expect(LineRanges.parse(bad)).toBeUndefined();
  });
});

describe("Checkpoint", () => {
  it("survives a kill: the snapshot plus every complete line of the log; a torn last line claims nothing", () => {
    const folder = tempDir();
    writeFileSync(join(folder, "Patient.ndjson"), "{}\n".repeat(100));
    const first = Checkpoint.open(folder, "https://fhir.example.org/R4", ["Patient.ndjson"]);
    first.ack("Patient.ndjson", [0, 1, 2, 3]);
    first.ack("Patient.ndjson", [10, 11]);
    first.release(); // what a kill leaves: the lock aside (a dead process's is taken over), snapshot and log as they are
    const base = join(
      folder,
      STATE_DIR,
      readdirSync(join(folder, STATE_DIR))
        .find((n) => n.endsWith(".log"))!
        .replace(/\.log$/, ""),
    );
    appendFileSync(`${base}.log`, '{"file":"Patient.ndjson","acked":[[50,9');
    const second = Checkpoint.open(folder, "https://fhir.example.org/R4", ["Patient.ndjson"]);
    expect(second.acked("Patient.ndjson").toJSON()).toEqual([
      [0, 4],
      [10, 12],
    ]);
    // Opening folded the log into the snapshot: it holds the same, and the log starts empty.
    expect(JSON.parse(readFileSync(`${base}.json`, "utf8")).files["Patient.ndjson"].acked).toEqual([
      [0, 4],
      [10, 12],
    ]);
    expect(readFileSync(`${base}.log`, "utf8")).toBe("");
    // Another server starts from nothing.
    second.release();
    const other = Checkpoint.open(folder, "https://other.example.org/R4", ["Patient.ndjson"]);
    expect(other.acked("Patient.ndjson").size).toBe(0);
    other.release();
  });
});

describe("Bundles", () => {
  const put: LoadEntry = { line: 0, resourceType: "Patient", id: "abc", text: '{"resourceType":"Patient","id":"abc"}' };
  const del: LoadEntry = { line: 1, resourceType: "ImagingStudy", id: "1.2.3" };

  it("are transaction or batch Bundles of PUT <type>/<id> (the resource's text as is) and DELETE entries", () => {
    const body = bundleBody("transaction", [put, del], "https://fhir.example.org/R4");
    expect(JSON.parse(body.toString())).toEqual({
      resourceType: "Bundle",
      type: "transaction",
      entry: [
        {
          fullUrl: "https://fhir.example.org/R4/Patient/abc",
          resource: { resourceType: "Patient", id: "abc" },
          request: { method: "PUT", url: "Patient/abc" },
        },
        { request: { method: "DELETE", url: "ImagingStudy/1.2.3" } },
      ],
    });
    expect(body.toString()).toContain(put.text);
  });

  it("are JSON whatever the base URL and ids hold, built in the buffer given, and the same bytes built fresh", () => {
    const odd: LoadEntry = { line: 2, resourceType: "Patient", id: 'é"\\x', text: Buffer.from('{"resourceType":"Patient","name":[{"text":"Zoë"}]}') };
    const space = Buffer.alloc(1 << 16, 0x7e);
    const body = bundleBody("batch", [odd, put], "https://fhír.example.org/R4", (bytes) => space.subarray(0, Math.max(bytes, 1024)));
    expect(body.buffer).toBe(space.buffer);
    expect(JSON.parse(body.toString())).toMatchObject({
      type: "batch",
      entry: [
        { fullUrl: 'https://fhír.example.org/R4/Patient/é"\\x', resource: { name: [{ text: "Zoë" }] }, request: { method: "PUT", url: 'Patient/é"\\x' } },
        { fullUrl: "https://fhír.example.org/R4/Patient/abc", request: { method: "PUT", url: "Patient/abc" } },
      ],
    });
    expect(body.equals(bundleBody("batch", [odd, put], "https://fhír.example.org/R4"))).toBe(true);
  });

  it("read each entry's answer: created, updated, refused, later; a DELETE of what is gone succeeded", () => {
    const answer = (type: "transaction" | "batch", statuses: string[]) =>
      readBundleAnswer(
        type,
        [put, del],
        Buffer.from(
          JSON.stringify({
            resourceType: "Bundle",
            type: `${type}-response`,
            entry: statuses.map((status) => ({ response: { status, outcome: { resourceType: "OperationOutcome" } } })),
          }),
        ),
      );
    expect(answer("transaction", ["201 Created", "204"])).toEqual([
      { kind: "accepted", status: 201 },
      { kind: "accepted", status: 204 },
    ]);
    expect(answer("batch", ["422 Unprocessable", "404 Not Found"]).map((a) => a.kind)).toEqual(["refused", "accepted"]);
    expect(answer("batch", ["429", "503"]).map((a) => a.kind)).toEqual(["later", "later"]);
    // A transaction the server answered 2xx committed every entry, even when its answer cannot be read.
    expect(readBundleAnswer("transaction", [put, del], Buffer.from("<html/>")).map((a) => a.kind)).toEqual(["accepted", "accepted"]);
    expect(entryAnswer(put, 404, undefined).kind).toBe("refused");
    expect(entryAnswer(del, 410, undefined).kind).toBe("accepted");
  });
});

describe("Pace", () => {
  it("lets `concurrency` requests run, halves after a push-back and holds new requests for its delay, then grows back", async () => {
    const pace = new Pace(4);
    for (let i = 0; i < 4; i++) await pace.acquire();
    let fifth = false;
    void pace.acquire().then(() => (fifth = true));
    await new Promise((r) => setTimeout(r, 5));
    expect(fifth).toBe(false);
    pace.release();
    await new Promise((r) => setTimeout(r, 0));
    expect(fifth).toBe(true);
    for (let i = 0; i < 4; i++) pace.release();
    expect(pace.inFlight).toBe(0);

    pace.pushedBack(150); // limit 2, nothing new for 150 ms
    const t0 = performance.now();
    await pace.acquire();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
    await pace.acquire();
    let third = false;
    void pace.acquire().then(() => (third = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(third).toBe(false); // the limit is 2 now
    pace.succeeded();
    pace.succeeded(); // two successes at limit 2: back to 3
    await new Promise((r) => setTimeout(r, 0));
    expect(third).toBe(true);
  });

  it("gives up waiting when the run stops", async () => {
    const pace = new Pace(1);
    await pace.acquire();
    const controller = new AbortController();
    const waiting = pace.acquire(controller.signal);
    controller.abort(new Error("stopped"));
    await expect(waiting).rejects.toThrow("stopped");
  });
});

describe("the test FHIR server", () => {
  let server: FhirTestServer;
  beforeAll(async () => {
    server = await startFhirServer();
  });
  afterAll(() => server.close());

  const post = async (bundle: unknown) => {
    const r = await fetch(server.base, { method: "POST", headers: { "content-type": "application/fhir+json" }, body: JSON.stringify(bundle) });
    return { status: r.status, body: (await r.json()) as { entry?: Array<{ response: { status: string } }> } };
  };
  const patient = (id: string, extra: object = {}) => ({
    request: { method: "PUT", url: `Patient/${id}` },
    resource: { resourceType: "Patient", id, ...extra },
  });

  it("rolls a transaction back when an entry fails as it is applied, and answers 201 for a PUT that creates", async () => {
    server.reset();
    expect((await post({ resourceType: "Bundle", type: "transaction", entry: [patient("a")] })).body.entry![0]!.response.status).toBe("201 Created");
    // The If-Match of the second entry fails only when it is applied, after the first was stored.
    const failed = await post({
      resourceType: "Bundle",
      type: "transaction",
      entry: [patient("b"), { ...patient("a", { gender: "other" }), request: { method: "PUT", url: "Patient/a", ifMatch: 'W/"no-such-version"' } }],
    });
    expect(failed.status).toBeGreaterThanOrEqual(400);
    expect([...(await server.contents()).keys()]).toEqual(["Patient/a"]);
    expect(await server.versions("Patient/a")).toBe(1);
    expect(await server.versions("Patient/b")).toBe(0);
    const updated = await post({ resourceType: "Bundle", type: "transaction", entry: [patient("a", { gender: "other" })] });
    expect(updated.body.entry![0]!.response.status).toBe("200 OK");
    expect(await server.versions("Patient/a")).toBe(2);
  });

  it("validates every write with Medplum's validator, and refuses Bundles of more than 50 entries", async () => {
    server.reset();
    const invalid = await post({ resourceType: "Bundle", type: "transaction", entry: [patient("c"), patient("d", { birthDate: "1970-13-45" })] });
    expect(invalid.status).toBe(400);
    expect((await server.contents()).size).toBe(0);
    const large = await post({ resourceType: "Bundle", type: "batch", entry: Array.from({ length: 51 }, (_, i) => patient(`p${i}`)) });
    expect(large.status).toBe(400);
    expect((await server.contents()).size).toBe(0);
  });
});
