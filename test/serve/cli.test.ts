// dcm2fhir serve, search and index as a user meets them: the base URL as stdout's first line, graceful stop on
// SIGINT/SIGTERM, the security defaults, one-line usage errors, and a console free of patient data.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, linkSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { hostname } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXPECTED_OPTIONS } from "../../scripts/make-fixtures.js";
import { convert } from "../../src/convert.js";
import { SEARCH_INDEX_FILE } from "../../src/core/outputFiles.js";
import { CLI, REPO, tempDir } from "../helpers/run.js";
import { PATIENTS, handMadeFolder, s, uid } from "../helpers/searchData.js";
import { getJson, ids } from "../helpers/serve.js";

// The token of whoever runs the tests does not leak into them.
const { DCM2FHIR_TOKEN: _, ...environment } = process.env;

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", cwd: REPO, timeout: 60_000, env: { ...environment, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Served {
  readonly child: ChildProcess;
  readonly base: string;
  stderr(): string;
  readonly exit: Promise<number | null>;
}

const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
});

/** Starts `dcm2fhir serve` and waits for the first line of stdout: the base URL. */
function serve(args: string[], env: Record<string, string> = {}): Promise<Served> {
  const child = spawn(process.execPath, [CLI, "serve", ...args], { cwd: REPO, env: { ...environment, ...env } });
  children.push(child);
  let stdout = "";
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (d) => {
      stdout += d;
      if (stdout.includes("\n")) resolve({ child, base: stdout.split("\n")[0]!, stderr: () => stderr, exit });
    });
    void exit.then((code) => reject(new Error(`serve exited (${code}) before printing its base URL: ${stderr}`)));
  });
}

let folder: string;
let converted: string;
beforeAll(async () => {
  folder = handMadeFolder();
  converted = tempDir();
  process.chdir(REPO);
  await convert({ ...EXPECTED_OPTIONS, out: converted, workers: 1 });
});

describe("dcm2fhir serve", () => {
  it("--help names the command and its options", () => {
    const r = cli(["serve", "--help"]);
    expect(r.status).toBe(0);
    for (const option of ["serve <folder>", "--host", "--port", "--base-path", "--token-file", "--allow-open-search"]) expect(r.stdout).toContain(option);
    expect(cli(["--help"]).stdout).toMatch(/serve <folder>/);
  });

  it("prints the base URL first, serves a convert output folder, and stops on SIGTERM after answering the request in flight (exit 0)", async () => {
    const served = await serve([converted, "--port", "0"]);
    expect(served.base).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const search = await getJson(`${served.base}ImagingStudy?patient.identifier=PAT-0001&_include=ImagingStudy:patient`);
    expect(search.total).toBe(2);
    expect(search.entry[0].fullUrl).toBe(`${served.base}ImagingStudy/${search.entry[0].resource.id}`);

    // A POST whose body is only half sent when the signal arrives: it is still answered.
    const inFlight = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const body = "identifier=ACC-1001";
      const req = httpRequest(
        `${served.base}ImagingStudy/_search`,
        { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", "content-length": body.length } },
        (res) => {
          let text = "";
          res.on("data", (d) => (text += d));
          res.on("end", () => resolve({ status: res.statusCode!, body: text }));
        },
      );
      req.on("error", reject);
      req.write(body.slice(0, 5));
      setTimeout(() => {
        served.child.kill("SIGTERM");
        setTimeout(() => req.end(body.slice(5)), 300);
      }, 200);
    });
    const answer = await inFlight;
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body).total).toBe(1);
    expect(await served.exit).toBe(0);
    expect(served.stderr()).toMatch(/SIGTERM: finishing requests in flight/);
    expect(served.stderr()).toMatch(/stopped after 2 requests \(2 searches, 0 reads, 0 errors\)/);
    // Counts only: no identifier, name or query on the console.
    for (const phi of [/PAT-0001/, /ACC-1001/, /Mueller/i, /Müller/, /2c7851c3/]) expect(served.stderr()).not.toMatch(phi);
  });

  it("stops on SIGINT too (exit 0)", async () => {
    const served = await serve([folder, "--port", "0"]);
    expect((await fetch(`${served.base}ImagingStudy?patient=p1`)).status).toBe(200);
    served.child.kill("SIGINT");
    expect(await served.exit).toBe(0);
  });

  it("--base-path puts the API under a prefix", async () => {
    const served = await serve([folder, "--port", "0", "--base-path", "/fhir/r4/"]);
    expect(served.base).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/fhir\/r4\/$/);
    const bundle = await getJson(`${served.base}ImagingStudy?patient=p2`);
    expect(ids(bundle)).toEqual(s(4, 5));
    expect(bundle.entry[0].fullUrl).toBe(`${served.base}ImagingStudy/${uid(4)}`);
    served.child.kill("SIGTERM");
    expect(await served.exit).toBe(0);
  });

  it("--allow-open-search lifts the seed's rule", async () => {
    const strict = await serve([folder, "--port", "0"]);
    expect((await fetch(`${strict.base}ImagingStudy?modality=CT`)).status).toBe(400);
    strict.child.kill("SIGTERM");
    const open = await serve([folder, "--port", "0", "--allow-open-search"]);
    expect((await getJson(`${open.base}ImagingStudy?modality=CT`)).total).toBe(2);
    open.child.kill("SIGTERM");
    expect([await strict.exit, await open.exit]).toEqual([0, 0]);
  });

  it("a host other than loopback needs a token: usage error without one; with DCM2FHIR_TOKEN every request but metadata needs it", async () => {
    const refused = cli(["serve", folder, "--host", "0.0.0.0", "--port", "0"]);
    expect(refused.status).toBe(2);
    expect(refused.stderr.trim().split("\n")).toHaveLength(1);
    expect(refused.stderr).toMatch(/--host 0\.0\.0\.0 would expose patient data to the network: set DCM2FHIR_TOKEN or pass --token-file/);
    expect(refused.stdout).toBe("");
    const empty = cli(["serve", folder, "--host", "0.0.0.0", "--port", "0"], { DCM2FHIR_TOKEN: " " });
    expect(empty.status).toBe(2);
    expect(empty.stderr).toMatch(/DCM2FHIR_TOKEN is set but empty/);

    const served = await serve([folder, "--host", "0.0.0.0", "--port", "0"], { DCM2FHIR_TOKEN: "a-long-random-token" });
    const port = new URL(served.base).port;
    const local = `http://127.0.0.1:${port}/`;
    const denied = await fetch(`${local}ImagingStudy?patient=p1`);
    expect(denied.status).toBe(401);
    expect(((await denied.json()) as { resourceType: string }).resourceType).toBe("OperationOutcome");
    expect((await fetch(`${local}ImagingStudy?patient=p1`, { headers: { authorization: "Bearer a-long-random-token" } })).status).toBe(200);
    expect((await fetch(`${local}metadata`)).status).toBe(200);
    expect(served.stderr()).toMatch(/bearer token required/);
    expect(served.stderr()).not.toMatch(/a-long-random-token/);
    served.child.kill("SIGTERM");
    expect(await served.exit).toBe(0);
  });

  it("--token-file holds the token; an empty one is refused", async () => {
    const dir = tempDir();
    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, "file-token-123\n");
    chmodSync(tokenFile, 0o600);
    const served = await serve([folder, "--port", "0", "--token-file", tokenFile]);
    expect((await fetch(`${served.base}Patient/p1`)).status).toBe(401);
    const read = await fetch(`${served.base}Patient/p1`, { headers: { authorization: "Bearer file-token-123" } });
    expect(await read.text()).toBe(JSON.stringify(PATIENTS[0]));
    served.child.kill("SIGTERM");
    expect(await served.exit).toBe(0);
    writeFileSync(tokenFile, "\n");
    const empty = cli(["serve", folder, "--port", "0", "--token-file", tokenFile]);
    expect(empty.status).toBe(2);
    expect(empty.stderr).toMatch(/--token-file is empty/);
  });

  it("usage errors are one line and exit 2: no index, no NDJSON, a bad port, a port in use, a bad base path", async () => {
    const noIndex = handMadeFolder({ index: false });
    const empty = tempDir();
    const taken = await serve([folder, "--port", "0"]);
    const busyPort = new URL(taken.base).port;
    for (const [args, message] of [
      [["serve", noIndex], /has NDJSON but no search index .*run: dcm2fhir index <folder>/],
      [["serve", empty], /no ImagingStudy\.ndjson in this folder/],
      [["serve", folder, "--port", "70000"], /--port takes a whole number/],
      [["serve", folder, "--port", busyPort], new RegExp(`port ${busyPort} is in use`)],
      [["serve", folder, "--base-path", "/a b"], /--base-path is a URL path/],
    ] as const) {
      const r = cli([...args]);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr.trim().split("\n"), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    taken.child.kill("SIGTERM");
    expect(await taken.exit).toBe(0);
  });
});

describe("dcm2fhir search", () => {
  it("prints the Bundle serve gives for the same query and base", async () => {
    const served = await serve([folder, "--port", "0"]);
    const query = "patient.identifier=MRN-1&started=ge2024-03-15&_include=ImagingStudy:patient&_count=2";
    const fromServer = await fetch(`${served.base}ImagingStudy?${query}`).then((r) => r.text());
    const r = cli(["search", folder, query, "--base", served.base]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${fromServer}\n`);
    expect(ids(JSON.parse(r.stdout))).toEqual(s(1, 2));
    served.child.kill("SIGTERM");
    await served.exit;
    // Its own default base is serve's default one; a query copied with its "ImagingStudy?" works.
    const byDefault = JSON.parse(cli(["search", folder, "ImagingStudy?identifier=ACC-2"]).stdout);
    expect(byDefault.entry[0].fullUrl).toBe(`http://127.0.0.1:8080/ImagingStudy/${uid(2)}`);
  });

  it("exit 2 and one line on a bad query, nothing on stdout; the seed's rule, --allow-open-search and --strict apply", () => {
    for (const [args, message] of [
      [["search", folder, "patient=p1&started=2020-13"], /^dcm2fhir: bad query: started: "2020-13" is not a date/],
      [["search", folder, "modality=CT"], /must include patient, patient\.identifier or identifier/],
      [["search", folder, "patient=p1&foo=1", "--strict"], /unknown search parameter foo/],
      [["search", handMadeFolder({ index: false }), "patient=p1"], /no search index/],
    ] as const) {
      const r = cli([...args]);
      expect(r.status).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
    // Text typed at a command line is text: "ü" is U+00FC, sent as UTF-8.
    expect(ids(JSON.parse(cli(["search", folder, "identifier=Zürich-5"]).stdout))).toEqual(s(5));
    const open = cli(["search", folder, "modality=CT", "--allow-open-search"]);
    expect(open.status).toBe(0);
    expect(JSON.parse(open.stdout).total).toBe(2);
  });

  it("answers right after convert: convert writes the index (hidden) with the other outputs", () => {
    expect(statSync(join(converted, SEARCH_INDEX_FILE)).isFile()).toBe(true);
    const r = cli(["search", converted, "identifier=urn:dicom:uid|2.25.93284755117702911744137342310154461.1"]);
    expect(JSON.parse(r.stdout).total).toBe(1);
  });
});

describe("dcm2fhir index", () => {
  it("indexes NDJSON made by hand (no report.json) without touching it, in this machine's zone unless told", () => {
    const dir = tempDir();
    const source = handMadeFolder({ index: false });
    // Hard links: the index must only read them.
    for (const name of ["ImagingStudy.ndjson", "Patient.ndjson", "Endpoint.ndjson"]) linkSync(join(source, name), join(dir, name));
    const before = ["ImagingStudy.ndjson", "Patient.ndjson"].map((name) => ({ bytes: readFileSync(join(dir, name)), stat: statSync(join(dir, name)) }));

    const r = cli(["index", dir, "--timezone", "Europe/Zurich"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/indexed 9 studies, 3 patients, 1 endpoints/);
    expect(r.stderr).not.toMatch(/note: no report\.json/);
    for (const [i, name] of ["ImagingStudy.ndjson", "Patient.ndjson"].entries()) {
      expect(readFileSync(join(dir, name)).equals(before[i]!.bytes)).toBe(true);
      expect(statSync(join(dir, name)).mtimeMs).toBe(before[i]!.stat.mtimeMs);
      expect(statSync(join(dir, name)).nlink).toBe(2);
    }
    // In Zurich, 2024-03-15 holds s1 and s2; s3 (00:30 on the 16th there) is not in it.
    expect(ids(JSON.parse(cli(["search", dir, "patient=p1&started=2024-03-15"]).stdout)).sort()).toEqual(s(1, 2));

    const utc = cli(["index", dir], { TZ: "UTC" });
    expect(utc.status).toBe(0);
    expect(utc.stderr).toMatch(/note: no report\.json names the zone .* this machine's zone, UTC/);
    // In UTC, s3 (23:30Z) is on the 15th; s2 ("2024-03-15") is now the UTC day; s4 (22:59:59Z on the 14th) is not.
    expect(ids(JSON.parse(cli(["search", dir, "patient=p1,p2&started=2024-03-15"]).stdout)).sort()).toEqual(s(1, 2, 3));
    expect(ids(JSON.parse(cli(["search", dir, "patient=p1,p2&started=2024-03-15T23:30:00"]).stdout)).sort()).toEqual(s(3));
  });

  it("takes the zone of report.json; refuses a bad --timezone and a folder without NDJSON", () => {
    const dir = handMadeFolder({ index: false });
    writeFileSync(join(dir, "report.json"), JSON.stringify({ dateTimes: { zone: "America/New_York" } }));
    expect(cli(["index", dir]).status).toBe(0);
    // 2024-03-15 in New York (EDT) is 04:00Z to 04:00Z: s1 (09:15Z), s3 (23:30Z), and s2, whose date is now read as that same day.
    expect(ids(JSON.parse(cli(["search", dir, "patient=p1&started=2024-03-15"]).stdout)).sort()).toEqual(s(1, 2, 3));
    const bad = cli(["index", dir, "--timezone", "Mars/Olympus"]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/unknown --timezone "Mars\/Olympus"/);
    const none = cli(["index", tempDir()]);
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/no ImagingStudy\.ndjson/);
  });

  it("an index older than its NDJSON is refused until rebuilt", () => {
    const dir = handMadeFolder();
    const studies = join(dir, "ImagingStudy.ndjson");
    writeFileSync(studies, readFileSync(studies, "utf8").replace('"status":"registered"', '"status":"available"'));
    for (const args of [
      ["search", dir, "patient=p1"],
      ["serve", dir, "--port", "0"],
    ]) {
      const r = cli(args);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/ImagingStudy\.ndjson changed after the search index was built; run: dcm2fhir index <folder>/);
    }
    expect(cli(["index", dir, "--timezone", "Europe/Zurich"]).status).toBe(0);
    expect(JSON.parse(cli(["search", dir, "patient=p1&status=registered"]).stdout).total).toBe(0);
  });

  it("reports lines it cannot take and indexes the rest", () => {
    const dir = tempDir();
    const source = handMadeFolder({ index: false });
    for (const name of ["Patient.ndjson", "Endpoint.ndjson"]) copyFileSync(join(source, name), join(dir, name));
    const lines = readFileSync(join(source, "ImagingStudy.ndjson"), "utf8").trimEnd().split("\n");
    const bad = ["{not json", '{"resourceType":"Patient","id":"x"}', '{"resourceType":"ImagingStudy"}', lines[0]!];
    writeFileSync(join(dir, "ImagingStudy.ndjson"), Buffer.concat([Buffer.from(`${[...lines, ...bad].join("\n")}\n`), Buffer.from([0xff, 0x0a])]));
    const r = cli(["index", dir, "--timezone", "UTC"]);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/indexed 9 studies/);
    for (const [line, problem] of [
      [10, "not-json"],
      [11, "wrong-resource-type"],
      [12, "no-id"],
      [13, "duplicate-id"],
      [14, "not-utf8"],
    ] as const) {
      expect(r.stderr).toContain(`skipped ImagingStudy.ndjson line ${line}: ${problem}`);
    }
  });
});

describe("exit codes of index for a folder it cannot write", () => {
  it("exit 3 when the folder is locked by a run", () => {
    const dir = handMadeFolder({ index: false });
    writeFileSync(join(dir, ".dcm2fhir.lock"), JSON.stringify({ pid: process.pid, host: hostname() }));
    const r = cli(["index", dir]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/another dcm2fhir run is writing this output folder/);
  });
});
