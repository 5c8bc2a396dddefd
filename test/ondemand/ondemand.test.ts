// serve --pacs (data on demand) against a real PACS: Orthanc with its DICOMweb plugin, reached through the logging,
// fault-injecting proxy. An empty folder answers patient.identifier and identifier searches with the very lines
// `convert <root>` writes; answers are reused within max-age and asked again after it (or at once with no-cache);
// concurrent searches share one query; an outage answers from the last answer, with an outcome entry, or 503; and
// no wildcard ever reaches the PACS.
import { spawn } from "node:child_process";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { convert } from "../../src/convert.js";
import { type ServingFolder, serve } from "../../src/serve/serve.js";
import { writeDicom } from "../../scripts/lib/dicomWriter.js";
import { type RunningOrthanc, orthancMissing, startOrthanc } from "../helpers/orthanc.js";
import { describeWith } from "../helpers/resources.js";
import type { LoggedRequest } from "../helpers/pacsProxy.js";
import { CLI, REPO, tempDir, withoutSecrets } from "../helpers/run.js";

const FIXTURES = join(REPO, "fixtures/dicom");
const missing = orthancMissing();
/** Retries without the default's patience: the faults here are scripted. */
const FAST = { attempts: 2, baseDelayMs: 5, maxDelayMs: 20, timeoutMs: 10_000 };
const UID_ROOT = "1.2.826.0.1.3680043.10.1513.77";

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : [join(dir, n)]));
}

/** A generated study of `patientId`: two CT instances in one series. */
function study(k: number, patientId: string, accession = `ACC-OD-${k}`): Buffer[] {
  const uid = `${UID_ROOT}.${k}`;
  return [1, 2].map((i) =>
    writeDicom({
      SpecificCharacterSet: "ISO_IR 100",
      SOPClassUID: "1.2.840.10008.5.1.4.1.1.2",
      SOPInstanceUID: `${uid}.1.${i}`,
      StudyInstanceUID: uid,
      SeriesInstanceUID: `${uid}.1`,
      StudyDate: "20240315",
      StudyTime: "101530",
      AccessionNumber: accession,
      Modality: "CT",
      StudyDescription: "CT CHEST",
      PatientName: "Muster^Erika",
      PatientID: patientId,
      PatientBirthDate: "19650412",
      PatientSex: "F",
      SeriesNumber: "1",
      InstanceNumber: String(i),
    }),
  );
}
const studyUID = (k: number) => `${UID_ROOT}.${k}`;

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  // biome-ignore lint: a Bundle, read loosely
  readonly json: any;
}
async function get(server: ServingFolder, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(`${server.base}${path}`, { headers });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: JSON.parse(text) };
}
// biome-ignore lint: Bundle entries, read loosely
const entries = (bundle: any, mode: string): any[] => (bundle.entry ?? []).filter((e: any) => e.search.mode === mode);
const lines = (bundle: unknown, mode = "match") =>
  entries(bundle, mode)
    .map((e) => JSON.stringify(e.resource))
    .sort();
const issues = (bundle: unknown): Array<{ severity: string; code: string; diagnostics: string }> => entries(bundle, "outcome").flatMap((e) => e.resource.issue);
const ndjson = (dir: string, name: string): string[] => {
  const text = readFileSync(join(dir, name), "utf8");
  return text === "" ? [] : text.trimEnd().split("\n");
};
const isQido = (r: LoggedRequest) => /\/dicom-web\/studies\?/.test(r.url);
const isMetadata = (r: LoggedRequest) => /\/metadata$/.test(r.url);

describeWith(missing || undefined, "serve --pacs: data on demand from Orthanc", () => {
  let pacs: RunningOrthanc;
  let baselineOut: string;
  let server: ServingFolder;
  const password = () => new URL(pacs.root).password;

  const startServe = (maxAge: number, roots = [pacs.root]) =>
    serve({ folder: join(tempDir(), "cache"), port: 0, pacs: { roots, maxAge, timezone: "UTC", http: FAST } });

  beforeAll(async () => {
    pacs = await startOrthanc();
    const files = walk(FIXTURES).map((name) => ({ name, bytes: readFileSync(name) }));
    const generated = [1, 2, 3].flatMap((k) => study(k, "PAT-OD-1")).map((bytes, i) => ({ name: `g${i}`, bytes }));
    await pacs.upload([...files, ...generated]);
    baselineOut = tempDir();
    await convert({ inputs: [pacs.root], out: baselineOut, timezone: "UTC", dicomweb: { http: FAST } });
    server = await startServe(300);
    pacs.proxy.reset();
  }, 240_000);
  afterAll(async () => {
    await server?.close();
    await pacs?.stop();
  });

  it("answers patient.identifier and identifier searches in an empty folder with the very lines convert <root> writes", async () => {
    const studies = ndjson(baselineOut, "ImagingStudy.ndjson");
    const patients = ndjson(baselineOut, "Patient.ndjson");
    const [endpoint] = ndjson(baselineOut, "Endpoint.ndjson");
    expect(studies.length).toBeGreaterThan(8);
    const patientById = new Map(patients.map((l) => [JSON.parse(l).id as string, l]));
    const identifierOf = (patientLine: string) => JSON.parse(patientLine).identifier?.[0]?.value as string | undefined;
    const subjectOf = (line: string) => (JSON.parse(line).subject.reference as string).slice("Patient/".length);
    let compared = 0;
    for (const value of new Set(patients.flatMap((l) => identifierOf(l) ?? []))) {
      const answer = await get(
        server,
        `ImagingStudy?patient.identifier=${encodeURIComponent(value.replace(/[\\,|$]/g, "\\$&"))}&_include=ImagingStudy:patient&_include=ImagingStudy:endpoint&_count=1000`,
      );
      expect(answer.status, value).toBe(200);
      const expected = studies.filter((l) => identifierOf(patientById.get(subjectOf(l))!) === value);
      expect(lines(answer.json), value).toEqual(expected.sort());
      expect(
        lines(answer.json, "include").filter((l) => l.includes('"Patient"')),
        value,
      ).toEqual([...new Set(expected.map((l) => patientById.get(subjectOf(l))!))].sort());
      expect(lines(answer.json, "include").filter((l) => l.includes('"Endpoint"'))).toEqual([endpoint]);
      compared += expected.length;
    }
    expect(compared).toBeGreaterThan(5);
    for (const line of studies) {
      const uid = JSON.parse(line).id as string;
      const answer = await get(server, `ImagingStudy?identifier=urn:dicom:uid|${uid}&_include=ImagingStudy:patient`);
      expect(lines(answer.json)).toEqual([line]);
      expect(lines(answer.json, "include")).toEqual([patientById.get(subjectOf(line))]);
    }
    const byAccession = await get(server, "ImagingStudy?identifier=ACC-OD-2");
    expect(lines(byAccession.json)).toEqual(studies.filter((l) => JSON.parse(l).id === studyUID(2)));
    // Only listings and study metadata were asked for, with the credentials of the URL.
    for (const r of pacs.proxy.log) expect(isQido(r) || isMetadata(r), r.url).toBe(true);
  });

  it("filters what a loosely matching PACS lists: Orthanc's case-blind PatientID match never widens the answer", async () => {
    pacs.proxy.reset();
    const answer = await get(server, "ImagingStudy?patient.identifier=pat-od-1");
    expect(answer.status).toBe(200);
    expect(answer.json.total).toBe(0);
    expect(pacs.proxy.log.filter(isQido)).toHaveLength(1);
    // Orthanc listed PAT-OD-1's studies; none was read.
    expect(pacs.proxy.log.filter(isMetadata)).toHaveLength(0);
  });

  it("never sends a wildcard, a list or an empty value to the PACS", async () => {
    pacs.proxy.reset();
    for (const query of [
      "patient.identifier=PAT*",
      "patient.identifier=PAT-OD-?",
      "patient.identifier=PAT\\\\OD",
      "patient.identifier=%20%20",
      "identifier=ACC*",
      "identifier=urn:dicom:uid|1.2.*",
      "patient.identifier=urn:oid:1.2|",
    ]) {
      const answer = await get(server, `ImagingStudy?${query}`);
      expect(answer.status, query).toBe(200);
      expect(
        issues(answer.json).some((i) => /not sent to the PACS/.test(i.diagnostics)),
        query,
      ).toBe(true);
    }
    expect(pacs.proxy.log).toEqual([]);
    // The seed's rule stands, PACS or not.
    expect((await get(server, "ImagingStudy?modality=CT")).status).toBe(400);
    expect(pacs.proxy.log).toEqual([]);
  });

  it("asks nobody for a patient= it does not know, and says so; a known one is asked by its Patient ID", async () => {
    pacs.proxy.reset();
    const unknown = await get(server, "ImagingStudy?patient=Patient/0123456789abcdef");
    expect(unknown.status).toBe(200);
    expect(issues(unknown.json).map((i) => i.code)).toEqual(["not-found"]);
    expect(pacs.proxy.log).toEqual([]);
    const known = await get(server, "ImagingStudy?patient.identifier=PAT-OD-1");
    const patient = (JSON.parse(lines(known.json)[0]!).subject.reference as string).slice("Patient/".length);
    const byReference = await get(server, `ImagingStudy?patient=Patient/${patient}`, { "cache-control": "no-cache" });
    expect(lines(byReference.json)).toEqual(lines(known.json));
    expect(pacs.proxy.log.filter(isQido).map((r) => r.url)).toEqual([expect.stringContaining("PatientID=PAT-OD-1")]);
  });

  it("makes one QIDO request for 16 concurrent identical searches, and reads each study once", async () => {
    await pacs.upload([4, 5, 6].flatMap((k) => study(k, "PAT-OD-4")).map((bytes, i) => ({ name: `c${i}`, bytes })));
    const answers = await Promise.all(Array.from({ length: 16 }, () => get(server, "ImagingStudy?patient.identifier=PAT-OD-4")));
    for (const a of answers) expect(a.json.total).toBe(3);
    expect(pacs.proxy.log.filter(isQido)).toHaveLength(1);
    expect(pacs.proxy.log.filter(isMetadata)).toHaveLength(3);
    // Within max-age: the index answers, the PACS is not asked.
    pacs.proxy.reset();
    expect((await get(server, "ImagingStudy?patient.identifier=PAT-OD-4")).json.total).toBe(3);
    expect(pacs.proxy.log).toEqual([]);
  });

  it("shows a study stored later after max-age (at once with Cache-Control: no-cache); a deleted one leaves", async () => {
    const quick = await startServe(1.5);
    try {
      await pacs.upload(study(7, "PAT-OD-7").map((bytes, i) => ({ name: `f${i}`, bytes })));
      const ids = async (headers: Record<string, string> = {}) =>
        entries((await get(quick, "ImagingStudy?patient.identifier=PAT-OD-7", headers)).json, "match")
          .map((e) => e.resource.id as string)
          .sort();
      expect(await ids()).toEqual([studyUID(7)]);
      await pacs.upload(study(8, "PAT-OD-7").map((bytes, i) => ({ name: `f${i}`, bytes })));
      expect(await ids()).toEqual([studyUID(7)]);
      expect(await ids({ "cache-control": "no-cache" })).toEqual([studyUID(7), studyUID(8)]);
      await pacs.upload(study(9, "PAT-OD-7").map((bytes, i) => ({ name: `f${i}`, bytes })));
      await new Promise((resolve) => setTimeout(resolve, 1600));
      expect(await ids()).toEqual([studyUID(7), studyUID(8), studyUID(9)]);
      await deleteStudy(pacs, studyUID(8));
      expect(await ids()).toEqual([studyUID(7), studyUID(8), studyUID(9)]);
      await new Promise((resolve) => setTimeout(resolve, 1600));
      expect(await ids()).toEqual([studyUID(7), studyUID(9)]);
      expect((await get(quick, `ImagingStudy/${studyUID(8)}`)).status).toBe(404);
    } finally {
      await quick.close();
    }
  });

  it("answers from the last answer with a transient outcome when the PACS is down, and 503 for a search it never answered", async () => {
    const before = await get(server, "ImagingStudy?patient.identifier=PAT-OD-1");
    pacs.proxy.die();
    try {
      const stale = await get(server, "ImagingStudy?patient.identifier=PAT-OD-1", { "cache-control": "no-cache" });
      expect(stale.status).toBe(200);
      expect(lines(stale.json)).toEqual(lines(before.json));
      const [issue] = issues(stale.json);
      expect(issue).toMatchObject({ severity: "warning", code: "transient" });
      expect(issue!.diagnostics).toMatch(/could not be asked \(unreachable\).*listed them at \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z/);
      const never = await get(server, "ImagingStudy?patient.identifier=NEVER-ASKED");
      expect(never.status).toBe(503);
      expect(Number(never.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(never.json.resourceType).toBe("OperationOutcome");
      expect(never.json.issue[0]).toMatchObject({ severity: "error", code: "transient" });
      for (const text of [stale.text, never.text]) expect(text).not.toContain(password());
    } finally {
      await pacs.proxy.revive();
    }
  });

  it("leaves out and names a study whose metadata fails; the others are answered", async () => {
    await pacs.upload([10, 11].flatMap((k) => study(k, "PAT-OD-10")).map((bytes, i) => ({ name: `m${i}`, bytes })));
    pacs.proxy.hooks.fault = (r) => (r.url.includes(`${studyUID(11)}/metadata`) ? { status: 500 } : undefined);
    const answer = await get(server, "ImagingStudy?patient.identifier=PAT-OD-10");
    pacs.proxy.hooks.fault = undefined;
    expect(answer.status).toBe(200);
    expect(entries(answer.json, "match").map((e) => e.resource.id)).toEqual([studyUID(10)]);
    expect(issues(answer.json)).toEqual([expect.objectContaining({ code: "incomplete", diagnostics: expect.stringContaining(studyUID(11)) })]);
    // Asked again at once: the failed study may be readable now.
    const again = await get(server, "ImagingStudy?patient.identifier=PAT-OD-10");
    expect(entries(again.json, "match").map((e) => e.resource.id)).toEqual([studyUID(10), studyUID(11)]);
  });

  it("takes a study two PACS hold from the first root, its endpoint naming that PACS; /metadata lists the roots without credentials", async () => {
    const second = pacs.root.replace(/\/dicom-web$/, "/dicom-web/");
    const both = await startServe(300, [pacs.root, second]);
    try {
      pacs.proxy.reset();
      const answer = await get(both, "ImagingStudy?patient.identifier=PAT-OD-1&_include=ImagingStudy:endpoint");
      expect(answer.json.total).toBe(3);
      expect(lines(answer.json, "include")).toEqual(ndjson(baselineOut, "Endpoint.ndjson"));
      expect(pacs.proxy.log.filter(isQido)).toHaveLength(2);
      expect(pacs.proxy.log.filter(isMetadata)).toHaveLength(3);
      const metadata = await get(both, "metadata");
      expect(metadata.json.rest[0].documentation).toContain(pacs.shownRoot);
      expect(metadata.text).not.toContain(password());
    } finally {
      await both.close();
    }
  });

  it("search <folder> <query> --pacs prints the Bundle serve would answer; credentials appear nowhere", async () => {
    const folder = join(tempDir(), "cli");
    const run = await cli(["search", folder, "patient.identifier=PAT-OD-1", "--pacs", pacs.root, "--timezone", "UTC"]);
    expect(run.code, run.stderr).toBe(0);
    expect(lines(JSON.parse(run.stdout))).toEqual(lines((await get(server, "ImagingStudy?patient.identifier=PAT-OD-1")).json));
    expect(run.stdout + run.stderr).not.toContain(password());
    pacs.proxy.die();
    try {
      const down = await cli(["search", join(tempDir(), "cli"), "patient.identifier=PAT-OD-1", "--pacs", pacs.root]);
      expect(down.code).toBe(5);
      expect(JSON.parse(down.stdout).resourceType).toBe("OperationOutcome");
      expect(down.stdout + down.stderr).not.toContain(password());
    } finally {
      await pacs.proxy.revive();
    }
  });

  it("serve <folder> --pacs prints its base URL first, answers, and logs counts only (no query value, no credentials)", async () => {
    const folder = join(tempDir(), "serve-cli");
    const child = spawn(process.execPath, [CLI, "serve", folder, "--pacs", pacs.root, "--port", "0", "--max-age", "60", "--timezone", "UTC"], {
      cwd: REPO,
      env: withoutSecrets(),
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const base = await new Promise<string>((resolve) => child.stdout.once("data", (d: Buffer) => resolve(d.toString().split("\n")[0]!)));
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const answer = await fetch(`${base}ImagingStudy?patient.identifier=PAT-OD-1`);
    expect(((await answer.json()) as { total: number }).total).toBe(3);
    await fetch(`${base}ImagingStudy?patient.identifier=PAT-OD-1`).then((r) => r.arrayBuffer());
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/PACS: 1 queries, 1 answered from the cache, 3 studies read, 0 failures/);
    expect(stderr).not.toContain("PAT-OD-1");
    expect(stderr).not.toContain(password());
  });

  it("refuses the PACS options without --pacs", async () => {
    const run = await cli(["serve", tempDir(), "--max-age", "10"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--max-age apply to the PACS: give --pacs <root>/);
  });
});

async function deleteStudy(pacs: RunningOrthanc, uid: string): Promise<void> {
  const lookup = await fetch(`${pacs.proxy.origin}/tools/lookup`, { method: "POST", headers: { authorization: pacs.authorization }, body: uid });
  const [found] = (await lookup.json()) as Array<{ ID: string; Type: string }>;
  const deleted = await fetch(`${pacs.proxy.origin}/studies/${found!.ID}`, { method: "DELETE", headers: { authorization: pacs.authorization } });
  await deleted.arrayBuffer();
  if (!deleted.ok) throw new Error(`Orthanc did not delete the study: HTTP ${deleted.status}`);
  pacs.proxy.reset();
}

/** The CLI in a child process, asynchronously: the proxy it talks to runs in this process. */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO, env: { ...withoutSecrets(), ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}
