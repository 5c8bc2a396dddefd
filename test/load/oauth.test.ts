// OAuth2 client credentials (SMART Backend Services) against a token endpoint on loopback that checks what a real
// one checks: the client's secret (client_secret_basic) or the signature and claims of its JWT (private_key_jwt,
// RS384 and ES384), and hands out tokens the test FHIR server then requires.
import { type KeyObject, generateKeyPairSync, verify } from "node:crypto";
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { UsageError } from "../../src/core/errors.js";
import { type LoadOptions, load } from "../../src/load/load.js";
import { type FhirTestServer, startFhirServer } from "../helpers/fhirServer.js";
import { expectServerHolds, fixtureFolder, resourcesOf } from "../helpers/loadData.js";
import { CLI, REPO, tempDir, withoutSecrets } from "../helpers/run.js";

/** The CLI, spawned without blocking: the servers it talks to run in this process. */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; output: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO, env: { ...withoutSecrets(), ...env } });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  return new Promise((resolve) => child.on("close", (status) => resolve({ status, output })));
}

let server: FhirTestServer;
let tokenServer: Server;
let tokenUrl: string;
/** What the token endpoint accepts: a client secret, or a public key to check the JWT with. */
let accept: { clientId: string; secret?: string; publicKey?: KeyObject };
const issued: string[] = [];
const requests: URLSearchParams[] = [];

beforeAll(async () => {
  server = await startFhirServer();
  tokenServer = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const form = new URLSearchParams(body);
      requests.push(form);
      const refuse = (error: string) => res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ error, error_description: "no" }));
      if (form.get("grant_type") !== "client_credentials") return refuse("unsupported_grant_type");
      if (accept.secret !== undefined) {
        const expected = `Basic ${Buffer.from(`${accept.clientId}:${encodeURIComponent(accept.secret)}`).toString("base64")}`;
        if (req.headers.authorization !== expected) return refuse("invalid_client");
      } else {
        const assertion = form.get("client_assertion") ?? "";
        if (form.get("client_assertion_type") !== "urn:ietf:params:oauth:client-assertion-type:jwt-bearer") return refuse("invalid_client");
        const [header, claims, signature] = assertion.split(".");
        const { alg } = JSON.parse(Buffer.from(header!, "base64url").toString());
        const valid = verify(
          "sha384",
          Buffer.from(`${header}.${claims}`),
          alg === "ES384" ? { key: accept.publicKey!, dsaEncoding: "ieee-p1363" } : accept.publicKey!,
          Buffer.from(signature!, "base64url"),
        );
        const c = JSON.parse(Buffer.from(claims!, "base64url").toString());
        if (!valid || c.iss !== accept.clientId || c.sub !== accept.clientId || c.aud !== tokenUrl || !(c.exp > Date.now() / 1000) || !c.jti)
          return refuse("invalid_client");
      }
      const token = `tok-${issued.length + 1}`;
      issued.push(token);
      server.faults.token = token; // the FHIR server takes only the latest token
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ access_token: token, token_type: "bearer", expires_in: 300, scope: form.get("scope") }));
    });
  });
  await new Promise<void>((resolve) => tokenServer.listen(0, "127.0.0.1", resolve));
  tokenUrl = `http://127.0.0.1:${(tokenServer.address() as AddressInfo).port}/auth/token`;
});
afterAll(async () => {
  await server.close();
  await new Promise<void>((resolve) => tokenServer.close(() => resolve()));
});
beforeEach(() => {
  server.reset();
  server.faults.token = "nobody-has-this-yet";
  issued.length = 0;
  requests.length = 0;
});

const FAST = { timeoutMs: 5000, attempts: 3, baseDelayMs: 5, maxDelayMs: 20, maxRetryAfterMs: 1000 };
const run = async (oauth: LoadOptions["oauth"]) => load({ folder: await fixtureFolder(), server: server.base, policy: FAST, oauth });

describe("OAuth2 client credentials", () => {
  it("client_secret_basic: fetches one token, sends it on every request, and stores everything", async () => {
    accept = { clientId: "dcm2fhir", secret: "s3cr:et/+" };
    const folder = await fixtureFolder();
    const { report } = await load({ folder, server: server.base, policy: FAST, oauth: { clientId: "dcm2fhir", clientSecret: "s3cr:et/+", tokenUrl } });
    expect(report).toMatchObject({ sent: 28, created: 28, rejected: 0 });
    expect(issued).toEqual(["tok-1"]);
    expect(server.received.every((r) => r.authorization === "Bearer tok-1")).toBe(true);
    expect(requests[0]!.get("scope")).toBe("system/Endpoint.write system/Patient.write system/ImagingStudy.write");
    await expectServerHolds(server, resourcesOf(folder));
  });

  for (const type of ["ec", "rsa"] as const) {
    it(`private_key_jwt (${type === "ec" ? "ES384" : "RS384"}), token endpoint found through .well-known/smart-configuration`, async () => {
      const { privateKey, publicKey } =
        type === "ec" ? generateKeyPairSync("ec", { namedCurve: "P-384" }) : generateKeyPairSync("rsa", { modulusLength: 2048 });
      accept = { clientId: "loader-7", publicKey };
      server.faults.smartTokenEndpoint = tokenUrl;
      const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
      const { report } = await run({ clientId: "loader-7", privateKey: pem, scope: "system/*.write" });
      expect(report).toMatchObject({ sent: 28, created: 28 });
      expect(issued).toEqual(["tok-1"]);
      expect(requests[0]!.get("scope")).toBe("system/*.write");
    });
  }

  it("after a 401 it fetches a new token once and goes on; the request refused is sent again", async () => {
    accept = { clientId: "dcm2fhir", secret: "pw" };
    server.faults.queue.push({ kind: "slow", ms: 0 }, { kind: "status", status: 401 });
    const folder = await fixtureFolder();
    const { report } = await load({ folder, server: server.base, policy: FAST, oauth: { clientId: "dcm2fhir", clientSecret: "pw", tokenUrl } });
    expect(report).toMatchObject({ sent: 28, created: 28, complete: true });
    expect(issued).toEqual(["tok-1", "tok-2"]);
    await expectServerHolds(server, resourcesOf(folder));
  });

  it("the CLI: --client-id with --client-secret-file (or DCM2FHIR_CLIENT_SECRET) and --token-url; a key without a client id is bad usage", async () => {
    accept = { clientId: "cli-client", secret: "from-a-file" };
    const folder = await fixtureFolder();
    const secretFile = join(tempDir(), "secret");
    writeFileSync(secretFile, "from-a-file\n");
    const ok = await cli(["load", folder, "--server", server.base, "--client-id", "cli-client", "--client-secret-file", secretFile, "--token-url", tokenUrl]);
    expect(ok.status, ok.output).toBe(0);
    expect(ok.output).not.toContain("from-a-file");
    expect(ok.output).not.toContain("tok-1");
    server.reset();
    server.faults.token = "not-yet";
    const env = await cli(["load", folder, "--server", server.base, "--client-id", "cli-client", "--token-url", tokenUrl], {
      DCM2FHIR_CLIENT_SECRET: "from-a-file",
    });
    expect(env.status, env.output).toBe(0);
    expect((await cli(["load", folder, "--server", server.base, "--private-key-file", secretFile])).status).toBe(2);
    expect((await cli(["load", folder, "--server", server.base, "--client-id", "cli-client"])).status).toBe(2);
  });

  it("refused client credentials stop the load before anything is sent, naming the OAuth error but not the secret", async () => {
    accept = { clientId: "dcm2fhir", secret: "right" };
    const error = await run({ clientId: "dcm2fhir", clientSecret: "wrong-secret", tokenUrl }).catch((e: unknown) => e);
    expect(error).toMatchObject({ reason: "auth-refused", message: expect.stringContaining("invalid_client") });
    expect((error as Error).message).not.toContain("wrong-secret");
    expect(server.received).toHaveLength(0);
    expect(await run({ clientId: "x", privateKey: "not a key" }).catch((e: unknown) => e)).toBeInstanceOf(UsageError);
    const noDiscovery = await run({ clientId: "x", clientSecret: "y" }).catch((e: unknown) => e);
    expect(noDiscovery).toMatchObject({ reason: "auth-refused", message: expect.stringContaining("--token-url") });
  });
});
