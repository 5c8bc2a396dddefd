// A real PACS for the tests and the bench: Orthanc with its DICOMweb plugin (Debian packages orthanc and
// orthanc-dicomweb), started with its own temporary configuration and storage, the DICOM port disabled, remote
// access refused and a user required. Orthanc 1.10 binds every interface, so where the machine allows it
// (`unshare -n`, root) it runs in a network namespace of its own, reached through a Unix socket; otherwise on a
// free loopback port. Either way the test talks to it through a PacsProxy on 127.0.0.1 that logs every request.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PacsProxy } from "./pacsProxy.js";

const ORTHANC = "/usr/sbin/Orthanc";
const DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so";
const NETNS_SCRIPT = fileURLToPath(new URL("./orthanc-netns.mjs", import.meta.url));

/** The Debian packages missing on this machine ("" when Orthanc can run), for a test's visible skip message. */
export function orthancMissing(): string {
  const missing = [existsSync(ORTHANC) ? "" : "orthanc", existsSync(DICOMWEB_PLUGIN) ? "" : "orthanc-dicomweb"].filter(Boolean);
  return missing.length === 0 ? "" : `${missing.join(" and ")} not installed (apt-get install -y orthanc orthanc-dicomweb)`;
}

export interface RunningOrthanc {
  readonly proxy: PacsProxy;
  /** The DICOMweb service root through the proxy, with the user's credentials in it. */
  readonly root: string;
  /** The same root without credentials: what dcm2fhir shows and writes as the Endpoint. */
  readonly shownRoot: string;
  /** `Authorization` for Orthanc's own REST API. */
  readonly authorization: string;
  /** "netns" when Orthanc runs in its own network namespace, "loopback" when on a loopback port. */
  readonly isolation: "netns" | "loopback";
  /** Stores files in turn; says which Orthanc stored, which held an instance with the same UIDs already, which it refused. */
  upload(files: readonly { readonly name: string; readonly bytes: Buffer }[]): Promise<UploadResult>;
  stop(): Promise<void>;
}

export interface UploadResult {
  /** Each in upload order. Of files with the same SOP Instance UID, Orthanc keeps the first: it is in `stored`. */
  readonly stored: string[];
  readonly alreadyStored: string[];
  readonly refused: string[];
}

export async function startOrthanc(): Promise<RunningOrthanc> {
  const missing = orthancMissing();
  if (missing) throw new Error(missing);
  // Orthanc syncs its index after every stored instance: on tmpfs that costs nothing.
  const dir = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "dcm2fhir-orthanc-"));
  const user = "dcm2fhir";
  const password = randomBytes(12).toString("hex");
  const netns = canUseNetworkNamespace();
  const port = netns ? 8042 : await freePort();
  const config = {
    Name: "dcm2fhir-test",
    StorageDirectory: join(dir, "db"),
    IndexDirectory: join(dir, "db"),
    HttpPort: port,
    DicomServerEnabled: false,
    RemoteAccessAllowed: false,
    AuthenticationEnabled: true,
    RegisteredUsers: { [user]: password },
    HttpCompressionEnabled: false,
    SaveJobs: false,
    Plugins: [DICOMWEB_PLUGIN],
    DicomWeb: { Enable: true, Root: "/dicom-web/", EnableWado: false, StudiesMetadata: "Full", SeriesMetadata: "Full" },
  };
  writeFileSync(join(dir, "orthanc.json"), JSON.stringify(config));
  const logPath = join(dir, "orthanc.log");
  let child: ChildProcess;
  let proxy: PacsProxy;
  if (netns) {
    const socketPath = join(dir, "orthanc.sock");
    child = spawn("unshare", ["-n", process.execPath, NETNS_SCRIPT, join(dir, "orthanc.json"), socketPath, String(port), logPath], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once("data", () => resolve());
      child.once("exit", (code) => reject(new Error(`Orthanc's namespace ended (exit ${code}): ${tail(logPath)}`)));
    });
    proxy = await PacsProxy.start({ socketPath });
  } else {
    const log = openSync(logPath, "a");
    child = spawn(ORTHANC, [join(dir, "orthanc.json")], { stdio: ["ignore", log, log] });
    proxy = await PacsProxy.start({ port });
  }
  const authorization = `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
  const origin = proxy.origin;
  const stop = async () => {
    await proxy.close();
    const exited = new Promise((resolve) => child.once("exit", resolve));
    if (child.exitCode === null) {
      child.stdin?.end();
      child.kill("SIGTERM");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntilUp(`${origin}/system`, authorization, logPath);
  } catch (error) {
    await stop();
    throw error;
  }
  proxy.reset();
  return {
    proxy,
    root: `http://${user}:${password}@${origin.slice("http://".length)}/dicom-web`,
    shownRoot: `${origin}/dicom-web`,
    authorization,
    isolation: netns ? "netns" : "loopback",
    stop,
    async upload(files) {
      // One at a time, in the order given: of files with the same SOP Instance UID sent at once, Orthanc can report
      // both stored; sent in turn, it stores the first and reports the others as already stored.
      const result: UploadResult = { stored: [], alreadyStored: [], refused: [] };
      for (const file of files) {
        const response = await fetch(`${origin}/instances`, {
          method: "POST",
          headers: { authorization, "content-type": "application/dicom" },
          body: file.bytes,
        });
        const answer = (response.ok ? await response.json() : (await response.arrayBuffer(), {})) as { Status?: string };
        (answer.Status === "Success" ? result.stored : answer.Status === "AlreadyStored" ? result.alreadyStored : result.refused).push(file.name);
      }
      proxy.reset();
      return result;
    },
  };
}

function canUseNetworkNamespace(): boolean {
  return spawnSync("unshare", ["-n", "ip", "link", "set", "lo", "up"], { stdio: "ignore" }).status === 0;
}

async function waitUntilUp(url: string, authorization: string, logPath: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, { headers: { authorization } });
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`Orthanc did not come up within 30 s: ${tail(logPath)}`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

function tail(path: string): string {
  return existsSync(path) ? readFileSync(path, "utf8").split("\n").slice(-5).join(" | ") : "(no log)";
}
