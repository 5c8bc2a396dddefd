// convert reading straight from a real PACS: Orthanc with its DICOMweb plugin (Debian's), holding the fixtures and
// ../shared/corpus. The output for the same instances is byte-identical to converting the files; only QIDO-RS
// listings and WADO-RS study metadata are ever requested; and a PACS that errs, resets, caps its answers or dies
// costs nothing but the studies it could not give, each accounted for.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ConvertOptions, type ConvertResult, convert } from "../../src/convert.js";
import { isParsedInstance } from "../../src/dicom/instance.js";
import { DicomFileReader } from "../../src/read/readFile.js";
import type { SourceReport } from "../../src/source/sink.js";
import { type RunningOrthanc, type UploadResult, orthancMissing, startOrthanc } from "../helpers/orthanc.js";
import type { LoggedRequest } from "../helpers/pacsProxy.js";
import { CLI, CORPUS, REPO, outputFiles, readNdjson, tempDir, withoutSecrets } from "../helpers/run.js";
import { describeWith } from "../helpers/resources.js";

const FIXTURES = join(REPO, "fixtures/dicom");
const missing = orthancMissing();
const withCorpus = existsSync(CORPUS);
/** Retries without the default's patience: the faults here are scripted. */
const FAST = { attempts: 3, baseDelayMs: 5, maxDelayMs: 20, timeoutMs: 10_000 };

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : [join(dir, n)]));
}

/** The CLI in a child process, asynchronously: the proxy it talks to runs in this process. */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO, env: { ...withoutSecrets(), ...env } });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("close", (code) => resolve({ code, output }));
  });
}

const lines = (dir: string, name: string): string[] => {
  const text = readFileSync(join(dir, name), "utf8");
  return text === "" ? [] : text.trimEnd().split("\n");
};
const idOf = (line: string) => (JSON.parse(line) as { id: string }).id;
const sourceOf = (result: ConvertResult, kind: SourceReport["kind"]) => result.report.sources.find((s) => s.kind === kind)!;

describeWith(missing || undefined, "convert from a PACS (Orthanc + DICOMweb plugin)", () => {
  let pacs: RunningOrthanc;
  let upload: UploadResult;
  /** Every study Orthanc lists, with how often it lists it and how many instances it says the study has. */
  let listing: Map<string, { times: number; instances: number }>;
  let baselineOut: string;
  let baseline: ConvertResult;
  let baselineLog: LoggedRequest[];
  /** Orthanc keys a study by its Patient ID too: the same Study Instance UID under two Patient IDs (corpus: "id11111"
   * and "id11111 ") is two studies to it, listed twice, and its WADO-RS answers 404 for that UID. */
  let ambiguous: Set<string>;
  /** The files whose instances Orthanc serves: those it stored, but for the studies it cannot serve. */
  let sameInstances: string[];

  const web = (extra: Partial<ConvertOptions> = {}) => {
    const out = tempDir();
    return convert({ inputs: [pacs.root], out, timezone: "UTC", ...extra, dicomweb: { http: FAST, ...extra.dicomweb } }).then((result) => ({ out, result }));
  };

  beforeAll(async () => {
    pacs = await startOrthanc();
    const files = [...walk(FIXTURES), ...(withCorpus ? walk(CORPUS) : [])].sort();
    upload = await pacs.upload(files.map((name) => ({ name, bytes: readFileSync(name) })));
    const qido = await fetch(`${pacs.proxy.origin}/dicom-web/studies`, { headers: { authorization: pacs.authorization, accept: "application/dicom+json" } });
    listing = new Map();
    for (const study of (await qido.json()) as Array<Record<string, { Value?: unknown[] }>>) {
      const uid = study["0020000D"]!.Value![0] as string;
      const entry = listing.get(uid) ?? { times: 0, instances: 0 };
      listing.set(uid, { times: entry.times + 1, instances: entry.instances + Number(study["00201208"]?.Value?.[0] ?? 0) });
    }
    ambiguous = new Set([...listing].filter(([, l]) => l.times > 1).map(([uid]) => uid));
    const reader = new DicomFileReader();
    sameInstances = upload.stored.filter((path) => {
      const r = reader.read(path).result;
      return !(isParsedInstance(r) && ambiguous.has(r.studyInstanceUID));
    });
    pacs.proxy.reset();
    ({ out: baselineOut, result: baseline } = await web());
    baselineLog = [...pacs.proxy.log];
  }, 240_000);
  afterAll(async () => {
    await pacs?.stop();
  });

  it(`gives, for the same instances, byte-identical ImagingStudy.ndjson and Patient.ndjson to converting the files (fixtures${withCorpus ? " and ../shared/corpus" : " only — ../shared/corpus is absent"})`, async () => {
    expect(upload.stored.length).toBeGreaterThan(withCorpus ? 100 : 20);
    // Studies Orthanc holds under two patients cannot be read over DICOMweb: each is an http-error line (below), and
    // their files stay out of the comparison.
    const filesOut = tempDir();
    await convert({ inputs: sameInstances, out: filesOut, endpoint: pacs.shownRoot, timezone: "UTC", workers: 1 });

    const fromFiles = lines(filesOut, "ImagingStudy.ndjson");
    const fromPacs = lines(baselineOut, "ImagingStudy.ndjson");
    expect(fromFiles.length).toBeGreaterThan(withCorpus ? 40 : 8);
    const pacsById = new Map(fromPacs.map((l) => [idOf(l), l]));
    for (const line of fromFiles) expect(pacsById.get(idOf(line)), `study ${idOf(line)}`).toBe(line);
    expect(readFileSync(join(baselineOut, "ImagingStudy.ndjson"), "utf8")).toBe(readFileSync(join(filesOut, "ImagingStudy.ndjson"), "utf8"));
    expect(readFileSync(join(baselineOut, "Endpoint.ndjson"), "utf8")).toBe(readFileSync(join(filesOut, "Endpoint.ndjson"), "utf8"));

    // Orthanc 1.10 cannot decode two character sets of the fixtures and corpus: ISO_IR 203 (Latin-9; it drops every
    // character outside ASCII) and ISO 2022 IR 13 with IR 87 (corpus chrH32.dcm; it drops the escape sequences and
    // sends the JIS bytes as ASCII letters). The names of those patients are the PACS's text; all else is identical.
    const filePatients = lines(filesOut, "Patient.ndjson");
    const pacsPatients = lines(baselineOut, "Patient.ndjson");
    expect(pacsPatients.map(idOf)).toEqual(filePatients.map(idOf));
    const differing = filePatients.flatMap((line, i) => (line === pacsPatients[i] ? [] : [[line, pacsPatients[i]!] as const]));
    expect(differing.length).toBeLessThanOrEqual(withCorpus ? 2 : 1);
    for (const [fileLine, pacsLine] of differing) {
      const { name: fileName, ...fileRest } = JSON.parse(fileLine) as Record<string, unknown>;
      const { name: pacsName, ...pacsRest } = JSON.parse(pacsLine) as Record<string, unknown>;
      expect(pacsRest).toEqual(fileRest);
      const study = fromFiles
        .map((l) => JSON.parse(l) as { id: string; subject: { reference: string } })
        .find((s) => s.subject.reference === `Patient/${fileRest.id}`)!;
      const metadata = await fetch(`${pacs.proxy.origin}/dicom-web/studies/${study.id}/metadata`, { headers: { authorization: pacs.authorization } });
      const [instance] = (await metadata.json()) as Array<Record<string, { Value: string[] }>>;
      expect(["ISO_IR 203", "ISO 2022 IR 13\\ISO 2022 IR 87"]).toContain(instance!["00080005"]!.Value.join("\\"));
      // Every character the file's name has and the PACS's name lacks is missing from Orthanc's own answer.
      const lost = [...new Set(JSON.stringify(fileName))].filter((c) => c > "\x7f" && !JSON.stringify(pacsName).includes(c));
      expect(lost.length).toBeGreaterThan(0);
      for (const c of lost) expect(JSON.stringify(instance!["00100010"])).not.toContain(c);
    }
    const notRead = readNdjson<{ path: string; reason: string; message: string }>(join(baselineOut, "errors.ndjson")).filter((e) => e.reason === "http-error");
    expect(notRead.map((e) => e.path).sort()).toEqual([...ambiguous].map((uid) => `${pacs.shownRoot}/studies/${uid}`).sort());
    for (const e of notRead) expect(e.message).toMatch(/HTTP 404 \(listed, yet not found/);
  });

  it("accounts for every study listed and every instance read, and says which source each came from", () => {
    const { report } = baseline;
    expect(report.files.converted + report.files.skipped + report.files.failed).toBe(report.files.seen);
    expect(readNdjson(join(baselineOut, "errors.ndjson"))).toHaveLength(report.files.skipped + report.files.failed);
    expect(report.sources).toHaveLength(1);
    const source = report.sources[0]!;
    const readable = [...listing].filter(([, l]) => l.times === 1);
    expect(source).toEqual({
      kind: "dicomweb",
      root: pacs.shownRoot,
      studies: { listed: listing.size, read: readable.length, failed: listing.size - readable.length },
      seen: report.files.seen,
      instances: expect.any(Number),
      reasons: report.files.reasons,
    });
    // Every instance Orthanc counts in the studies it can serve was seen: a record, or a failure of its own.
    expect(source.seen - source.studies!.failed).toBe(readable.reduce((n, [, l]) => n + l.instances, 0));
    expect(source.seen).toBe(source.instances + Object.values(source.reasons).reduce((a, b) => a + b, 0));
  });

  it("requests only QIDO-RS study listings and WADO-RS study metadata, with the URL's credentials: never pixel data, frames, rendered or bulk data", () => {
    const metadata = baselineLog.filter((r) => /^\/dicom-web\/studies\/[0-9.]+\/metadata$/.test(r.url));
    const listings = baselineLog.filter((r) => /^\/dicom-web\/studies\?limit=1000&offset=\d+$/.test(r.url));
    expect(metadata.length + listings.length).toBe(baselineLog.length);
    expect(new Set(metadata.map((r) => r.url)).size).toBe(listing.size);
    expect(listings.length).toBe(1);
    for (const r of baselineLog) {
      expect(r.method).toBe("GET");
      expect(r.authorization).toBe(pacs.authorization);
    }
  });

  it("writes the service root, without credentials, as the Endpoint; the password is nowhere in the output", () => {
    const [endpoint] = readNdjson<{ address: string }>(join(baselineOut, "Endpoint.ndjson"));
    expect(endpoint!.address).toBe(pacs.shownRoot);
    const password = new URL(pacs.root).password;
    for (const [name, text] of Object.entries(outputFiles(baselineOut))) expect(text, name).not.toContain(password);
  });

  it("pages through the listing: by limit/offset, and on past a short page that came with Warning: 299", async () => {
    pacs.proxy.reset();
    const paged = await web({ dicomweb: { pageSize: 7 } });
    expect(pacs.proxy.log.filter((r) => r.url.startsWith("/dicom-web/studies?")).map((r) => r.url)).toEqual(
      Array.from({ length: Math.floor(listing.size / 7) + 1 }, (_, i) => `/dicom-web/studies?limit=7&offset=${7 * i}`),
    );
    expect(readFileSync(join(paged.out, "ImagingStudy.ndjson"), "utf8")).toBe(readFileSync(join(baselineOut, "ImagingStudy.ndjson"), "utf8"));

    pacs.proxy.reset();
    // As dcm4chee-arc does: at most 5 studies per answer, whatever the limit, and a warning that more exist.
    pacs.proxy.hooks.rewrite = (request, answer) => {
      if (!request.url.startsWith("/dicom-web/studies?")) return answer;
      const studies = JSON.parse(answer.body.toString()) as unknown[];
      if (studies.length <= 5) return answer;
      return {
        ...answer,
        headers: { ...answer.headers, warning: '299 {+}: "There are more than 5 matches"' },
        body: Buffer.from(JSON.stringify(studies.slice(0, 5))),
      };
    };
    const capped = await web();
    expect(pacs.proxy.log.filter((r) => r.url.startsWith("/dicom-web/studies?")).length).toBe(Math.ceil(listing.size / 5) + (listing.size % 5 === 0 ? 1 : 0));
    expect(readFileSync(join(capped.out, "ImagingStudy.ndjson"), "utf8")).toBe(readFileSync(join(baselineOut, "ImagingStudy.ndjson"), "utf8"));
    expect(sourceOf(capped.result, "dicomweb").studies!.listed).toBe(listing.size);
    pacs.proxy.reset();
  });

  it("narrows the listing to a Study Date range with --studies-since/--studies-until", async () => {
    pacs.proxy.reset();
    // A range that holds some studies and leaves others out: the corpus's older ones, or else March 2024 of the fixtures.
    const [since, until] = withCorpus ? ["2003-01-01", "2010-12-31"] : ["2024-03-01", "2024-03-31"];
    const { out, result } = await web({ dicomweb: { studiesSince: since, studiesUntil: until } });
    expect(pacs.proxy.log[0]!.url).toBe(`/dicom-web/studies?limit=1000&offset=0&StudyDate=${since.replaceAll("-", "")}-${until.replaceAll("-", "")}`);
    const inRange = (line: string) => {
      const started = (JSON.parse(line) as { started?: string }).started?.slice(0, 10);
      return started !== undefined && started >= since && started <= until;
    };
    const expected = lines(baselineOut, "ImagingStudy.ndjson").filter(inRange);
    expect(expected.length).toBeGreaterThan(withCorpus ? 5 : 0);
    expect(lines(out, "ImagingStudy.ndjson")).toEqual(expected);
    const baselineErrors = new Set(lines(baselineOut, "errors.ndjson"));
    for (const line of lines(out, "errors.ndjson")) expect(baselineErrors.has(line), line).toBe(true);
    expect(sourceOf(result, "dicomweb").studies!.listed).toBeLessThan(listing.size);
  });

  it("retries 503s (honouring Retry-After) and connection resets: the output is the same", async () => {
    const attempts = new Map<string, number>();
    pacs.proxy.reset();
    pacs.proxy.hooks.fault = (request, n) => {
      const attempt = (attempts.get(request.url) ?? 0) + 1;
      attempts.set(request.url, attempt);
      if (attempt > 1) return undefined;
      return n % 2 === 0 ? "reset" : { status: 503, headers: { "retry-after": "0" } };
    };
    const { out, result } = await web();
    expect([...attempts.values()].every((a) => a === 2)).toBe(true);
    expect(attempts.size).toBe(listing.size + 1);
    for (const name of ["ImagingStudy.ndjson", "Patient.ndjson", "Endpoint.ndjson", "errors.ndjson"]) {
      expect(readFileSync(join(out, name), "utf8"), name).toBe(readFileSync(join(baselineOut, name), "utf8"));
    }
    expect(result.report.files).toEqual(baseline.report.files);
    pacs.proxy.reset();
  });

  it("turns a study whose metadata cannot be read completely into one errors.ndjson line, and writes nothing of it", async () => {
    const studies = lines(baselineOut, "ImagingStudy.ndjson").map((l) => JSON.parse(l) as { id: string; numberOfInstances: number });
    const multi = studies.filter((s) => s.numberOfInstances >= 2);
    const [erring, cut, malformed] = [studies.find((s) => s.numberOfInstances === 1)!, multi[0]!, multi[1]!];
    const metadataOf = (uid: string) => `/dicom-web/studies/${uid}/metadata`;
    pacs.proxy.reset();
    pacs.proxy.hooks.fault = (request) => (request.url === metadataOf(erring.id) ? { status: 500 } : undefined);
    pacs.proxy.hooks.rewrite = (request, answer) => {
      if (request.url === metadataOf(cut.id)) return { ...answer, body: answer.body.subarray(0, answer.body.length >> 1) };
      if (request.url !== metadataOf(malformed.id)) return answer;
      const instances = JSON.parse(answer.body.toString()) as Array<Record<string, unknown>>;
      instances[instances.length - 1]!["00100010"] = { vr: "PN", Value: "not an array" };
      return { ...answer, body: Buffer.from(JSON.stringify(instances)) };
    };
    const { out, result } = await web();
    const failedIds = new Set([erring.id, cut.id, malformed.id]);
    expect(lines(out, "ImagingStudy.ndjson")).toEqual(lines(baselineOut, "ImagingStudy.ndjson").filter((l) => !failedIds.has(idOf(l))));
    const baselineErrors = new Set(lines(baselineOut, "errors.ndjson"));
    const added = readNdjson<{ path: string; reason: string; message: string }>(join(out, "errors.ndjson")).filter(
      (e) => !baselineErrors.has(JSON.stringify(e)),
    );
    expect(added.map(({ path, reason }) => ({ path, reason }))).toEqual(
      [
        { path: `${pacs.shownRoot}/studies/${erring.id}`, reason: "http-error" },
        { path: `${pacs.shownRoot}/studies/${cut.id}`, reason: "bad-metadata" },
        { path: `${pacs.shownRoot}/studies/${malformed.id}`, reason: "bad-metadata" },
      ].sort((a, b) => (a.path < b.path ? -1 : 1)),
    );
    const message = (id: string) => added.find((e) => e.path.endsWith(id))!.message;
    expect(message(erring.id)).toMatch(/HTTP 500$/);
    expect(message(cut.id)).toMatch(/the answer is not JSON/);
    expect(message(malformed.id)).toMatch(new RegExp(`instance ${malformed.numberOfInstances}: \\(0010,0010\\): Value is not an array`));
    const source = sourceOf(result, "dicomweb");
    expect(source.studies).toEqual({
      ...sourceOf(baseline, "dicomweb").studies,
      read: sourceOf(baseline, "dicomweb").studies!.read - 3,
      failed: sourceOf(baseline, "dicomweb").studies!.failed + 3,
    });
    expect(source.instances).toBe(sourceOf(baseline, "dicomweb").instances - erring.numberOfInstances - cut.numberOfInstances - malformed.numberOfInstances);
    pacs.proxy.reset();
  });

  it("ends on its own when the PACS dies mid-run: studies read so far written, the rest listed, exit 0 (1 with --fail-on-error)", async () => {
    pacs.proxy.reset();
    const before = Math.min(10, listing.size >> 1);
    let answered = 0;
    pacs.proxy.hooks.fault = (request) => {
      if (!request.url.endsWith("/metadata") || ++answered <= before) return undefined;
      pacs.proxy.die();
      return "reset";
    };
    const out = tempDir();
    const run = await cli(["convert", pacs.root, "--out", out, "--timezone", "UTC"]);
    await pacs.proxy.revive();
    expect(run.code, run.output).toBe(0);
    const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8")) as ConvertResult["report"];
    const { studies } = report.sources[0]!;
    expect(studies!.listed).toBe(listing.size);
    // Answers on their way when it died are lost with it.
    expect(studies!.read).toBeGreaterThan(0);
    expect(studies!.read).toBeLessThanOrEqual(before);
    expect(studies!.read + studies!.failed).toBe(studies!.listed);
    // Each study written is whole: exactly its line in the full run.
    const full = new Set(lines(baselineOut, "ImagingStudy.ndjson"));
    const written = lines(out, "ImagingStudy.ndjson");
    for (const line of written) expect(full.has(line), idOf(line)).toBe(true);
    const errors = readNdjson<{ path: string; reason: string; message: string }>(join(out, "errors.ndjson"));
    const studyLines = errors.filter((e) => /\/studies\/[0-9.]+$/.test(e.path));
    expect(studyLines).toHaveLength(studies!.failed);
    // Every study read is written as the full run wrote it: the full run's lines but those of the studies that
    // failed. (Not one line per study read: a study the full run does not write either, say one that fails
    // validation, may be among those read before the PACS died, depending on which answers came first.)
    const failedUids = new Set(studyLines.map((e) => e.path.slice(e.path.lastIndexOf("/") + 1)));
    const studyUidOf = (line: string) =>
      (JSON.parse(line) as { identifier: Array<{ system: string; value: string }> }).identifier
        .find((i) => i.system === "urn:dicom:uid")!
        .value.replace(/^urn:oid:/, "");
    expect(written).toEqual(lines(baselineOut, "ImagingStudy.ndjson").filter((line) => !failedUids.has(studyUidOf(line))));
    const heldTwice = (e: { path: string }) => ambiguous.has(e.path.slice(e.path.lastIndexOf("/") + 1));
    expect(new Set(studyLines.filter((e) => !heldTwice(e)).map((e) => e.reason))).toEqual(new Set(["unreachable"]));
    // Past 2 × concurrency (at least 8) failures in a row, the rest are not even asked for.
    if (studies!.failed > 8 + 4) expect(studyLines.some((e) => e.message.startsWith("not requested: 8 requests in a row failed after every retry"))).toBe(true);
    expect(run.output).not.toContain(new URL(pacs.root).password);

    // Dead from the start: the listing itself is the one failure.
    pacs.proxy.reset();
    pacs.proxy.die();
    const deadOut = tempDir();
    const dead = await cli(["convert", pacs.root, "--out", deadOut, "--fail-on-error"]);
    await pacs.proxy.revive();
    expect(dead.code, dead.output).toBe(1);
    expect(readNdjson(join(deadOut, "errors.ndjson"))).toEqual([
      {
        path: `${pacs.shownRoot}/studies`,
        reason: "unreachable",
        message: expect.stringMatching(/^listing stopped after 0 studies: GET .*\/dicom-web\/studies: connection failed/),
      },
    ]);
    expect(lines(deadOut, "ImagingStudy.ndjson")).toEqual([]);
  });

  it("stops at SIGINT while studies are in flight: exit 130, nothing written", async () => {
    pacs.proxy.reset();
    pacs.proxy.hooks.delayMs = 300;
    const out = tempDir();
    const child = spawn(process.execPath, [CLI, "convert", pacs.root, "--out", out], { cwd: REPO, env: withoutSecrets() });
    let output = "";
    child.stderr.on("data", (d) => (output += d));
    const exit = new Promise<number | null>((resolve) => child.on("close", resolve));
    while (pacs.proxy.log.filter((r) => r.url.endsWith("/metadata")).length < 2) await new Promise((resolve) => setTimeout(resolve, 20));
    child.kill("SIGINT");
    expect(await exit, output).toBe(130);
    expect(output).toMatch(/interrupted after .*nothing written/);
    expect(Object.keys(outputFiles(out))).toEqual([]);
    pacs.proxy.reset();
  });

  it("authenticates with a bearer token from DCM2FHIR_TOKEN or --token-file, never printing it", async () => {
    const token = "tok-3f9a7c1e5b";
    pacs.proxy.reset();
    pacs.proxy.hooks.bearer = { token, upstreamAuthorization: pacs.authorization };
    const out = tempDir();
    const run = await cli(["convert", pacs.shownRoot, "--out", out, "--timezone", "UTC", "--verbose"], { DCM2FHIR_TOKEN: token });
    expect(run.code, run.output).toBe(0);
    expect(readFileSync(join(out, "ImagingStudy.ndjson"), "utf8")).toBe(readFileSync(join(baselineOut, "ImagingStudy.ndjson"), "utf8"));
    expect(new Set(pacs.proxy.log.map((r) => r.authorization))).toEqual(new Set([`Bearer ${token}`]));
    expect(run.output).not.toContain(token);
    for (const text of Object.values(outputFiles(out))) expect(text).not.toContain(token);

    pacs.proxy.reset();
    pacs.proxy.hooks.bearer = { token, upstreamAuthorization: pacs.authorization };
    const tokenFile = join(tempDir(), "token");
    writeFileSync(tokenFile, "wrong-token\n", { mode: 0o600 });
    const wrongOut = tempDir();
    const wrong = await cli(["convert", pacs.shownRoot, "--out", wrongOut, "--token-file", tokenFile, "--verbose"]);
    expect(wrong.code, wrong.output).toBe(0);
    expect(pacs.proxy.log[0]!.authorization).toBe("Bearer wrong-token");
    expect(readNdjson(join(wrongOut, "errors.ndjson"))).toEqual([
      { path: `${pacs.shownRoot}/studies`, reason: "http-error", message: expect.stringMatching(/HTTP 401 \(check the token/) },
    ]);
    expect(wrong.output).not.toContain("wrong-token");
    pacs.proxy.reset();
  });

  it("reads a PACS and files in one run: the file is kept where both hold an instance, and the report counts each source", async () => {
    const out = tempDir();
    const mixed = await convert({ inputs: [FIXTURES, pacs.root], out, timezone: "UTC", dicomweb: { http: FAST } });
    const { report } = mixed;
    expect(report.sources.map((s) => s.kind)).toEqual(["files", "dicomweb"]);
    expect(report.sources.reduce((n, s) => n + s.seen, 0)).toBe(report.files.seen);
    expect(sourceOf(mixed, "dicomweb")).toEqual(sourceOf(baseline, "dicomweb"));
    const duplicates = readNdjson<{ path: string; reason: string }>(join(out, "errors.ndjson")).filter((e) => e.reason === "duplicate");
    expect(report.duplicates).toBe(duplicates.length);
    // Every instance Orthanc holds from a fixture file is read twice, and the file's path sorts first.
    const reader = new DicomFileReader();
    const fixtureInstances = upload.stored.filter((p) => p.startsWith(FIXTURES) && isParsedInstance(reader.read(p).result));
    expect(duplicates.filter((d) => d.path.startsWith(pacs.shownRoot))).toHaveLength(fixtureInstances.length);
    expect(duplicates.filter((d) => !d.path.startsWith(pacs.shownRoot)).map((d) => d.path)).toEqual([join(FIXTURES, "conflict/copy of a.dcm")]);
    const [endpoint] = readNdjson<{ address: string }>(join(out, "Endpoint.ndjson"));
    expect(endpoint!.address).toBe(pacs.shownRoot);
    // The same as converting the fixture folder and the files of every other instance the PACS serves.
    const filesOut = tempDir();
    await convert({ inputs: [FIXTURES, ...sameInstances.filter((p) => !p.startsWith(FIXTURES))], out: filesOut, endpoint: pacs.shownRoot, timezone: "UTC" });
    expect(readFileSync(join(out, "ImagingStudy.ndjson"), "utf8")).toBe(readFileSync(join(filesOut, "ImagingStudy.ndjson"), "utf8"));
  });
});

describe.concurrent("DICOMweb inputs: bad usage is one line and exit 2", () => {
  const out = () => tempDir();
  const tokenFile = join(tempDir(), "token");
  writeFileSync(tokenFile, "a-token\n", { mode: 0o600 });
  it.each([
    [["https://pacs.example.org/dicom-web?x=1"], /no query \(\?\) or fragment/],
    [["https://pacs.example.org/dicom-web", "--studies-since", "2024-13-01"], /--studies-since takes a day as YYYY-MM-DD/],
    [["https://pacs.example.org/dicom-web", "--studies-since", "2024-02-01", "--studies-until", "2024-01-01"], /--studies-since is after --studies-until/],
    [[FIXTURES, "--studies-since", "2024-01-01"], /narrow DICOMweb inputs; none was given/],
    [["https://a.example.org/dicom-web", "https://b.example.org/dicom-web"], /several DICOMweb inputs: pass --endpoint/],
    [["https://pacs.example.org/dicom-web", "--concurrency", "0"], /--concurrency takes a whole number/],
    [["https://user:pw@pacs.example.org/dicom-web", "--token-file", tokenFile], /a bearer token and a user name in the URL/],
    [["https://pacs.example.org/dicom-web", "--token-file", "/nonexistent/token"], /--token-file cannot be read \(ENOENT\)/],
  ])("%j", async (args, message) => {
    const run = await cli(["convert", ...args, "--out", out()]);
    expect(run.code).toBe(2);
    expect(run.output).toMatch(message);
    expect(run.output.trim().split("\n")).toHaveLength(1);
    expect(run.output).not.toContain("pw@");
  });
});
