// dcm2fhir load against a real FHIR implementation on loopback (Medplum's router and in-memory repository,
// test/helpers/fhirServer.ts). Every scenario ends by reading the server's contents: exactly the folder's
// resources, nothing more, nothing stored twice unless the scenario says why.
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { copyFileSync, existsSync, readFileSync, readdirSync, renameSync, utimesSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { UsageError } from "../../src/core/errors.js";
import { Checkpoint } from "../../src/load/checkpoint.js";
import { type LoadOptions, load } from "../../src/load/load.js";
import { LoadFailure } from "../../src/load/errors.js";
import { type FhirTestServer, startFhirServer } from "../helpers/fhirServer.js";
import { expectServerHolds, fixtureFolder, ndjsonHashes, resourcesOf, syntheticFolder, writeChanges } from "../helpers/loadData.js";
import { readNdjson, tempDir } from "../helpers/run.js";

let server: FhirTestServer;
beforeAll(async () => {
  server = await startFhirServer();
});
afterAll(() => server.close());
beforeEach(() => server.reset());

/** Short backoff: the scenarios inject dozens of faults. */
const FAST = { timeoutMs: 5000, attempts: 4, baseDelayMs: 5, maxDelayMs: 40, maxRetryAfterMs: 5000 };
const run = (folder: string, options: Partial<LoadOptions> = {}) => load({ folder, server: server.base, policy: FAST, ...options });
const writes = () => server.received.filter((r) => r.method !== "GET");
const loadErrors = (folder: string) =>
  readNdjson<{ resourceType: string; id: string | null; status: number; outcome: { resourceType: string; issue: unknown[] } }>(
    join(folder, "load-errors.ndjson"),
  );

describe("load into a FHIR server", () => {
  it("stores exactly the converted fixtures, each once, in phases, and writes only its report, errors and checkpoint folder", async () => {
    const folder = await fixtureFolder();
    const before = ndjsonHashes(folder);
    const filesBefore = readdirSync(folder).sort();
    const { report } = await run(folder);
    const expected = resourcesOf(folder);
    expect(expected.size).toBe(28);
    await expectServerHolds(server, expected);
    expect(report).toMatchObject({ sent: 28, created: 28, updated: 0, rejected: 0, failed: 0, invalid: 0, skipped: 0, retried: 0, complete: true });
    const written = JSON.parse(readFileSync(join(folder, "load-report.json"), "utf8"));
    for (const key of ["sent", "created", "updated", "rejected", "retried", "elapsed", "resources/s"]) expect(written, key).toHaveProperty([key]);
    expect(written.sent).toBe(28);
    // Per resource type, in the order sent (phases add up to the totals), and the stored count second by second.
    expect(written.phases.map((p: { resourceType: string }) => p.resourceType)).toEqual(["Endpoint", "Patient", "ImagingStudy"]);
    expect(written.phases.reduce((n: number, p: { created: number }) => n + p.created, 0)).toBe(28);
    expect(written.phases.every((p: { sent: number; created: number }) => p.sent === p.created && p.sent > 0)).toBe(true);
    expect(written.storedBySecond.at(-1)).toBe(28);
    expect(written.splits).toBe(0);
    expect(readFileSync(join(folder, "load-errors.ndjson"), "utf8")).toBe("");
    expect(ndjsonHashes(folder)).toEqual(before);
    expect(readdirSync(folder).sort()).toEqual([...filesBefore, ".dcm2fhir", "load-errors.ndjson", "load-report.html", "load-report.json"].sort());
    // A complete run leaves nothing to resume: no checkpoint, no lock, no temporary file.
    expect(readdirSync(join(folder, ".dcm2fhir"))).toEqual([]);
    // Every request is a transaction of PUT <type>/<id> entries, one type per Bundle, Endpoint before Patient before ImagingStudy.
    const bundles = writes().map(
      (r) => JSON.parse(r.body) as { type: string; entry: Array<{ fullUrl: string; request: { method: string; url: string }; resource: { id: string } }> },
    );
    expect(bundles.every((b) => b.type === "transaction")).toBe(true);
    const order = bundles.flatMap((b) => b.entry.map((e) => e.request.url.split("/")[0]));
    expect(order).toEqual([...order].sort((a, b) => RANK[a!]! - RANK[b!]!));
    for (const e of bundles.flatMap((b) => b.entry)) {
      expect(e.request).toEqual({ method: "PUT", url: `${e.request.url.split("/")[0]}/${e.resource.id}` });
      expect(e.fullUrl).toBe(`${server.base}/${e.request.url}`);
    }
  });

  it("retries 429 (Retry-After), 503, 502, 504, resets and timeouts with the same bytes, and stores each resource once", async () => {
    const folder = await syntheticFolder(40, 2);
    const pass = { kind: "slow", ms: 0 } as const;
    server.faults.queue.push(
      { kind: "status", status: 503 },
      pass,
      { kind: "status", status: 429, retryAfter: "1" },
      pass,
      { kind: "reset" },
      pass,
      { kind: "status", status: 502 },
      // Longer than the timeout below: the server stores the Bundle, the client hears nothing and sends it again.
      { kind: "slow", ms: 1200 },
      { kind: "status", status: 504 },
    );
    const { report } = await run(folder, { batchSize: 10, concurrency: 3, policy: { ...FAST, timeoutMs: 800, attempts: 8 } });
    await server.idle();
    // The Bundle the server stored while the client timed out was stored twice (and any other a busy machine made
    // time out the same way): each resource has as many versions as the server applied a Bundle holding it.
    const answered = writes().filter((r) => r.status === 200);
    const applied = new Map<string, number>();
    for (const r of answered) for (const key of r.keys) applied.set(key, (applied.get(key) ?? 0) + 1);
    const again = [...applied].filter(([, n]) => n > 1).map(([key]) => key);
    expect(again.length).toBeGreaterThanOrEqual(10);
    await expectServerHolds(server, resourcesOf(folder), (key) => applied.get(key)!);
    expect(report).toMatchObject({ sent: 121, rejected: 0, failed: 0 });
    expect(report.retried).toBeGreaterThanOrEqual(6);
    // The client heard only the last answer for a Bundle stored twice: "200 OK", an update.
    expect(report).toMatchObject({ created: 121 - again.length, updated: again.length });
    // Each request the server did not answer in full came again with exactly the same body.
    for (const r of writes().filter((w) => w.status !== 200)) expect(answered.some((a) => a.body === r.body)).toBe(true);
  });

  it("splits a transaction the server refuses for one resource until it is alone: every other one lands, that one is one line", async () => {
    const folder = await syntheticFolder(30, 2);
    const bad = `ImagingStudy/2.25.1017.2`;
    server.faults.refuse.add(bad);
    const { report, errors } = await run(folder, { batchSize: 25 });
    const expected = resourcesOf(folder);
    expected.delete(bad);
    await expectServerHolds(server, expected);
    expect(report).toMatchObject({ sent: 91, rejected: 1, created: 90, failed: 0 });
    const lines = loadErrors(folder);
    expect(lines).toEqual([
      { resourceType: "ImagingStudy", id: "2.25.1017.2", status: 422, outcome: expect.objectContaining({ resourceType: "OperationOutcome" }) },
    ]);
    expect(errors).toEqual(lines);
    // Bisection, not one request per resource: 6 Bundles (1 + 25 + 5 + 25 + 25 + 10), and log2(25) levels of two halves at most.
    expect(writes().length).toBeLessThanOrEqual(6 + 2 * Math.ceil(Math.log2(25)));
    // The checkpoint stays for the one not stored: running again sends only it.
    server.faults.refuse.clear();
    const again = await run(folder, { batchSize: 25 });
    expect(again.report).toMatchObject({ sent: 1, skipped: 90, created: 1, rejected: 0 });
    await expectServerHolds(server, resourcesOf(folder));
    expect(loadErrors(folder)).toEqual([]);
    expect(readdirSync(join(folder, ".dcm2fhir"))).toEqual([]);
  });

  it("splits Bundles larger than the server takes (Medplum: 50 entries), and sends smaller ones from then on", async () => {
    const folder = await syntheticFolder(150, 1);
    const { report } = await run(folder, { batchSize: 120 });
    await expectServerHolds(server, resourcesOf(folder));
    expect(report).toMatchObject({ rejected: 0, sent: 301 });
    const sizes = writes().map((r) => r.keys.length);
    // The first Patient Bundle (120) is refused, its halves (60) too, their halves (30) pass; then no more than 60.
    expect(sizes.filter((n) => n > 50).length).toBeLessThanOrEqual(3);
    expect(writes().filter((r) => r.status === 400).length).toBe(3);
  });

  it("--bundle batch: each entry on its own, one refused, one busy once (re-sent alone)", async () => {
    const folder = await syntheticFolder(20, 1);
    server.faults.refuse.add(`Patient/${readNdjson<{ id: string }>(join(folder, "Patient.ndjson"))[3]!.id}`);
    server.faults.busyOnce.add("ImagingStudy/2.25.1005.1");
    const { report } = await run(folder, { bundle: "batch", batchSize: 10 });
    const expected = resourcesOf(folder);
    const refused = [...server.faults.refuse][0]!;
    expected.delete(refused);
    // The study of the refused Patient is still sent, and this server (no referential integrity) stores it.
    await expectServerHolds(server, expected);
    expect(report).toMatchObject({ sent: 41, rejected: 1, created: 40, retried: 1 });
    expect(loadErrors(folder).map((l) => `${l.resourceType}/${l.id} ${l.status}`)).toEqual([`${refused} 422`]);
    expect(writes().every((r) => JSON.parse(r.body).type === "batch")).toBe(true);
    expect(writes().some((r) => r.keys.length === 1 && r.keys[0] === "ImagingStudy/2.25.1005.1")).toBe(true);
  });

  it("finishes every phase, retries included, before the next begins", async () => {
    const folder = await syntheticFolder(30, 2);
    // The last Patient Bundle is answered 503 once and then stored; no study may be sent before.
    const lastPatient = `Patient/${readNdjson<{ id: string }>(join(folder, "Patient.ndjson"))[29]!.id}`;
    server.faults.busyOnce.add(lastPatient);
    server.faults.latencyMs = 10;
    const progress: Array<{ phase: string; sent: number; stored: number }> = [];
    await run(folder, { batchSize: 10, concurrency: 4, progressEveryMs: 20, onProgress: (p) => progress.push(p) });
    // Progress came while it ran: phase by phase, counts that only grow.
    expect(progress.length).toBeGreaterThan(2);
    expect(progress.map((p) => p.phase).filter((p, i, all) => p !== all[i - 1])).toEqual(
      ["Endpoint", "Patient", "ImagingStudy"].slice(3 - new Set(progress.map((p) => p.phase)).size),
    );
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.stored).toBeGreaterThanOrEqual(progress[i - 1]!.stored);
    await expectServerHolds(server, resourcesOf(folder));
    const firstStudy = writes().findIndex((r) => r.keys.some((k) => k.startsWith("ImagingStudy/")));
    const lastPatientRequest = writes().findLastIndex((r) => r.keys.some((k) => k.startsWith("Patient/")));
    const lastEndpoint = writes().findLastIndex((r) => r.keys.some((k) => k.startsWith("Endpoint/")));
    const firstPatient = writes().findIndex((r) => r.keys.some((k) => k.startsWith("Patient/")));
    expect(writes().filter((r) => r.keys.includes(lastPatient)).length).toBe(2);
    expect(lastPatientRequest).toBeLessThan(firstStudy);
    expect(lastEndpoint).toBeLessThan(firstPatient);
  });

  it("401: stops at once with auth-refused, without a retry storm; with the token, every request carries it", async () => {
    const folder = await fixtureFolder();
    server.faults.token = "s3cret-token";
    const refused = await run(folder);
    expect(refused.stopped).toBeInstanceOf(LoadFailure);
    expect(refused.stopped!.reason).toBe("auth-refused");
    expect(refused.stopped!.message).not.toMatch(/s3cret/);
    expect(writes()).toHaveLength(1);
    expect(refused.report).toMatchObject({ complete: false, stopped: { reason: "auth-refused" } });
    await expectServerHolds(server, new Map());

    server.received.length = 0;
    const { report } = await run(folder, { token: "s3cret-token" });
    expect(report).toMatchObject({ sent: 28, created: 28, rejected: 0 });
    expect(server.received.every((r) => r.authorization === "Bearer s3cret-token")).toBe(true);
    await expectServerHolds(server, resourcesOf(folder));
  });

  it("checks GET metadata first: not a FHIR server, unreachable, or refusing our credentials is a LoadFailure before anything is sent", async () => {
    const folder = await fixtureFolder();
    const web = createServer((_req, res) => res.writeHead(200, { "content-type": "text/html" }).end("<html>hello</html>"));
    await new Promise<void>((resolve) => web.listen(0, "127.0.0.1", resolve));
    const port = (web.address() as AddressInfo).port;
    const notFhir = await load({ folder, server: `http://127.0.0.1:${port}/fhir`, policy: FAST }).catch((e: unknown) => e);
    expect(notFhir).toMatchObject({ reason: "not-a-fhir-server" });
    await new Promise<void>((resolve) => web.close(() => resolve()));
    const gone = await load({ folder, server: `http://127.0.0.1:${port}/fhir`, policy: { ...FAST, attempts: 2 } }).catch((e: unknown) => e);
    expect(gone).toMatchObject({ reason: "server-unreachable" });
    server.faults.token = "t";
    server.faults.tokenOnMetadata = true;
    const auth = await run(folder, { token: "wrong" }).catch((e: unknown) => e);
    expect(auth).toMatchObject({ reason: "auth-refused" });
    expect(existsSync(join(folder, "load-report.json"))).toBe(false);
    expect(writes()).toHaveLength(0);
  });

  it("a server that keeps failing stops the run (server-failing) after a few batches, keeping the checkpoint", async () => {
    const folder = await syntheticFolder(30, 2);
    server.faults.queue.push({ kind: "slow", ms: 0 });
    for (let i = 0; i < 40; i++) server.faults.queue.push({ kind: "status", status: 503 });
    const result = await run(folder, { batchSize: 10, concurrency: 1, policy: { ...FAST, attempts: 3 } });
    expect(result.stopped?.reason).toBe("server-failing");
    expect(result.report.complete).toBe(false);
    // The Endpoint Bundle landed, then three Patient Bundles got no answer after 3 attempts each: 1 + 9 requests.
    expect(writes()).toHaveLength(10);
    expect(result.report).toMatchObject({ created: 1, failed: 30 });
    expect(loadErrors(folder)).toHaveLength(30);
    expect(loadErrors(folder)[0]).toMatchObject({ resourceType: "Patient", status: 503, outcome: { issue: [{ code: "transient" }] } });
    // The next run sends only what was not acknowledged.
    server.faults.queue.length = 0;
    const again = await run(folder, { batchSize: 10 });
    expect(again.report).toMatchObject({ skipped: 1, sent: 90, complete: true, rejected: 0, failed: 0 });
    await expectServerHolds(server, resourcesOf(folder));
  });

  it("--changes and --delete: upserts changes/, then DELETEs studies before patients; the server ends as the new full output", async () => {
    const old = await syntheticFolder(6, 2);
    await run(old);
    const before = resourcesOf(old);
    // The next night: study 2.25.1000.1 changed, Patient 5 and its studies are gone, a new Patient with one study came.
    const folder = tempDir("dcm2fhir-load-changes-");
    const patients = readNdjson<Record<string, unknown> & { id: string }>(join(old, "Patient.ndjson"));
    const studies = readNdjson<Record<string, unknown> & { id: string; subject: { reference: string } }>(join(old, "ImagingStudy.ndjson"));
    const gone = patients[5]!;
    const changedStudy = { ...studies[0]!, description: "changed overnight" };
    const newPatient = { ...patients[0]!, id: "0".repeat(32), identifier: [{ value: "NEW-1" }] };
    const newStudy = {
      ...studies[1]!,
      id: "2.25.9999.1",
      identifier: [{ system: "urn:dicom:uid", value: "urn:oid:2.25.9999.1" }],
      subject: { reference: `Patient/${newPatient.id}` },
    };
    const keptPatients = [...patients.slice(0, 5), newPatient].sort((a, b) => (a.id < b.id ? -1 : 1));
    const keptStudies = [changedStudy, ...studies.slice(1).filter((s) => s.subject.reference !== `Patient/${gone.id}`), newStudy];
    const lines = (values: readonly object[]) => values.map((v) => `${JSON.stringify(v)}\n`).join("");
    copyFileSync(join(old, "Endpoint.ndjson"), join(folder, "Endpoint.ndjson"));
    writeFileSync(join(folder, "Patient.ndjson"), lines(keptPatients));
    writeFileSync(join(folder, "ImagingStudy.ndjson"), lines(keptStudies));
    const deleted = [
      ...studies.filter((s) => s.subject.reference === `Patient/${gone.id}`).map((s) => ({ resourceType: "ImagingStudy", id: s.id })),
      { resourceType: "Patient", id: gone.id },
    ];
    writeChanges(folder, { ImagingStudy: [changedStudy, newStudy] as never, Patient: [newPatient] as never, deleted });
    const hashes = ndjsonHashes(folder);
    server.received.length = 0;
    const { report } = await run(folder, { changes: true, delete: true });
    expect(report).toMatchObject({ mode: "changes", sent: 1 + 1 + 2 + 3, created: 2, updated: 2, deleted: 3, rejected: 0 });
    const after = resourcesOf(folder);
    await expectServerHolds(server, after, (key) => (key === `ImagingStudy/${changedStudy.id}` || key.startsWith("Endpoint/") ? 2 : 1));
    expect(before.size - 3 + 2).toBe(after.size);
    // Endpoint (from the folder: changes/ has none), Patient, ImagingStudy, then DELETE ImagingStudy, DELETE Patient.
    const sequence = writes().flatMap((r) =>
      (JSON.parse(r.body) as { entry: Array<{ request: { method: string; url: string } }> }).entry.map(
        (e) => `${e.request.method} ${e.request.url.split("/")[0]}`,
      ),
    );
    expect([...new Set(sequence)]).toEqual(["PUT Endpoint", "PUT Patient", "PUT ImagingStudy", "DELETE ImagingStudy", "DELETE Patient"]);
    expect(ndjsonHashes(folder)).toEqual(hashes);
    // Deleting again what is gone has the effect asked for: 404 is success for a DELETE. This server refuses a
    // transaction that deletes what it does not hold, so each ends up alone, asked as a plain DELETE.
    server.received.length = 0;
    const again = await run(folder, { changes: true, delete: true });
    expect(again.report).toMatchObject({ deleted: 3, rejected: 0 });
    expect(server.received.filter((r) => r.method === "DELETE").map((r) => `${r.path.split("/")[3]} ${r.status}`)).toEqual([
      "ImagingStudy 404",
      "ImagingStudy 404",
      "Patient 404",
    ]);
    const sentTwice = new Set([`Patient/${newPatient.id}`, `ImagingStudy/${newStudy.id}`]);
    await expectServerHolds(server, after, (key) =>
      key === `ImagingStudy/${changedStudy.id}` || key.startsWith("Endpoint/") ? 3 : sentTwice.has(key) ? 2 : 1,
    );
  });

  it("resumes a run stopped halfway: skips what the server acknowledged, re-sends at most what was in flight", async () => {
    const folder = await syntheticFolder(100, 2);
    server.faults.latencyMs = 30;
    const controller = new AbortController();
    const stopAt = setInterval(() => {
      if (writes().filter((r) => r.status === 200).length >= 6) controller.abort();
    }, 5);
    const first = await run(folder, { batchSize: 10, concurrency: 4, signal: controller.signal });
    clearInterval(stopAt);
    expect(first.interrupted).toBe(true);
    expect(first.report.complete).toBe(false);
    await server.idle();
    const storedBefore = (await server.contents()).size;
    expect(storedBefore).toBeGreaterThan(0);
    expect(storedBefore).toBeLessThan(301);
    server.faults.latencyMs = 0;
    const second = await run(folder, { batchSize: 10, concurrency: 4 });
    expect(second.report.complete).toBe(true);
    expect(second.report.skipped + second.report.sent).toBe(301);
    let twice = 0;
    await expectServerHolds(server, resourcesOf(folder), () => [1, 2]);
    for (const key of resourcesOf(folder).keys()) if ((await server.versions(key)) === 2) twice++;
    expect(twice).toBeLessThanOrEqual(4 * 10);
  });

  it("forgets the checkpoint of files that changed since (a new convert run), and says so", async () => {
    const folder = await syntheticFolder(10, 1);
    const refused = `Patient/${readNdjson<{ id: string }>(join(folder, "Patient.ndjson"))[0]!.id}`;
    server.faults.refuse.add(refused);
    await run(folder);
    expect(readdirSync(join(folder, ".dcm2fhir")).filter((n) => n.endsWith(".json"))).toHaveLength(1);
    // convert writes a new file and renames it into place: a new inode and mtime.
    const patients = join(folder, "Patient.ndjson");
    copyFileSync(patients, `${patients}.new`);
    renameSync(`${patients}.new`, patients);
    utimesSync(patients, new Date(), new Date(Date.now() + 5000));
    server.faults.refuse.clear();
    const again = await run(folder);
    expect(again.outdatedCheckpoint).toEqual(["Patient.ndjson"]);
    expect(again.report).toMatchObject({ sent: 10, skipped: 11 });
    await expectServerHolds(server, resourcesOf(folder), (key) => (key.startsWith("Patient/") && key !== refused ? 2 : 1));
  });

  it("a lock left by a killed run never blocks; a live one does", async () => {
    const folder = await fixtureFolder();
    const held = Checkpoint.open(folder, server.base, ["Patient.ndjson"]); // held by this process, which is alive
    expect(await run(folder).catch((e: unknown) => e)).toMatchObject({ reason: "folder-busy" });
    held.release();
    const lock = join(folder, ".dcm2fhir", `load-${createHash("sha256").update(server.base).digest("hex").slice(0, 16)}.lock`);
    // A lock whose process is gone (a pid above Linux's pid_max), and one a crash left empty.
    writeFileSync(lock, JSON.stringify({ pid: 2 ** 22 + 1, host: hostname(), started: "2025-01-01T00:00:00Z" }));
    expect((await run(folder)).report.sent).toBe(28);
    writeFileSync(lock, "");
    expect((await run(folder)).report.sent).toBe(28);
    expect(existsSync(lock)).toBe(false);
    // A convert writing the folder holds its own lock: load waits for it rather than read half an output.
    writeFileSync(join(folder, ".dcm2fhir.lock"), JSON.stringify({ pid: process.pid, host: hostname() }));
    expect(await run(folder).catch((e: unknown) => e)).toMatchObject({ reason: "folder-busy" });
  });

  it("a line that is not a resource is one line of load-errors.ndjson (status 0) and everything else lands", async () => {
    const folder = await syntheticFolder(5, 1);
    const path = join(folder, "Patient.ndjson");
    const text = readFileSync(path, "utf8").split("\n");
    text.splice(2, 0, '{"resourceType":"Patient","id":"cut-off","name":[{"fam');
    writeFileSync(path, text.join("\n"));
    const { report } = await run(folder);
    expect(report).toMatchObject({ invalid: 1, sent: 11, rejected: 0 });
    expect(loadErrors(folder)).toEqual([
      { resourceType: "Patient", id: null, status: 0, outcome: expect.objectContaining({ resourceType: "OperationOutcome" }) },
    ]);
    const expected = resourcesOf(await syntheticFolder(5, 1));
    await expectServerHolds(server, expected);
  });

  it("--dry-run reads everything and asks only for the CapabilityStatement; it sends and writes nothing", async () => {
    const folder = await fixtureFolder();
    const listing = readdirSync(folder).sort();
    const { report, server: info } = await run(folder, { dryRun: true });
    expect(report).toMatchObject({ dryRun: true, sent: 28 });
    expect(info.fhirVersion).toBe("4.0.1");
    expect(server.received.map((r) => `${r.method} ${r.path}`)).toEqual(["GET /fhir/R4/metadata"]);
    expect(readdirSync(folder).sort()).toEqual(listing);
  });

  it("refuses bad usage with a UsageError naming the fix", async () => {
    const folder = await fixtureFolder();
    const usage = (options: Partial<LoadOptions>) => run(folder, options).catch((e: unknown) => e);
    expect(await usage({ server: "fhir.example.org" })).toBeInstanceOf(UsageError);
    expect(await usage({ server: "ftp://fhir.example.org/" })).toBeInstanceOf(UsageError);
    expect(await usage({ server: `${server.base}?_format=json` })).toBeInstanceOf(UsageError);
    expect(await usage({ batchSize: 0 })).toBeInstanceOf(UsageError);
    expect(await usage({ concurrency: 1.5 })).toBeInstanceOf(UsageError);
    expect(await usage({ changes: true })).toMatchObject({ message: expect.stringMatching(/no changes\/Patient\.ndjson/) });
    expect(await usage({ delete: true })).toMatchObject({ message: expect.stringMatching(/changes\/deleted\.ndjson/) });
    expect(await run(join(folder, "nothing-here")).catch((e: unknown) => e)).toBeInstanceOf(UsageError);
    expect(server.received).toHaveLength(0);
  });
});

const RANK: Record<string, number> = { Endpoint: 0, Patient: 1, ImagingStudy: 2 };
