// Before anything is sent: is this a FHIR server we may write to? GET [base]/metadata must answer a
// CapabilityStatement (FHIR R4 3.1.0.11 "capabilities"). What it says is checked only for warnings: servers
// often leave out what they do support.
import { HttpFailure, type SendPolicy, send } from "../lib/http.js";
import type { Credentials } from "./auth.js";
import type { BundleType } from "./bundle.js";
import { LoadFailure } from "./errors.js";
import type { LoadResourceType } from "./plan.js";

export interface ServerInfo {
  readonly fhirVersion?: string;
  readonly software?: string;
  /** Things the CapabilityStatement says that may make the load fail; printed, never fatal. */
  readonly warnings: readonly string[];
}

interface CapabilityStatement {
  resourceType?: string;
  fhirVersion?: string;
  software?: { name?: string; version?: string };
  rest?: Array<{
    mode?: string;
    interaction?: Array<{ code?: string }>;
    resource?: Array<{ type?: string; updateCreate?: boolean; interaction?: Array<{ code?: string }> }>;
  }>;
}

export async function checkServer(
  base: string,
  credentials: Credentials,
  policy: SendPolicy,
  bundle: BundleType,
  types: readonly LoadResourceType[],
): Promise<ServerInfo> {
  let answer;
  try {
    const authorization = await credentials.authorization();
    answer = await send(
      `${base}/metadata`,
      { method: "GET", headers: { accept: "application/fhir+json", ...(authorization ? { authorization } : {}) } },
      policy,
    );
  } catch (error) {
    if (error instanceof HttpFailure) throw new LoadFailure("server-unreachable", `the server cannot be reached: ${error.message}`);
    throw error;
  }
  if (answer.status === 401 || answer.status === 403) throw authRefused(answer.status, "GET metadata");
  let statement: CapabilityStatement | undefined;
  try {
    statement = JSON.parse(answer.body.toString("utf8")) as CapabilityStatement;
  } catch {
    statement = undefined;
  }
  if (answer.status < 200 || answer.status >= 300 || statement?.resourceType !== "CapabilityStatement") {
    const what = answer.status >= 300 ? `HTTP ${answer.status}` : "no CapabilityStatement";
    throw new LoadFailure("not-a-fhir-server", `--server does not look like a FHIR base URL: GET metadata answered ${what}`);
  }
  const warnings: string[] = [];
  if (statement.fhirVersion && !statement.fhirVersion.startsWith("4.0")) {
    warnings.push(`the server speaks FHIR ${statement.fhirVersion}; dcm2fhir writes R4 (4.0.1) resources`);
  }
  const rest = statement.rest?.find((r) => r.mode === "server") ?? statement.rest?.[0];
  if (rest?.interaction && !rest.interaction.some((i) => i.code === bundle)) {
    warnings.push(`the server does not list the ${bundle} interaction${bundle === "transaction" ? "; if it refuses transactions, use --bundle batch" : ""}`);
  }
  for (const type of types) {
    const resource = rest?.resource?.find((r) => r.type === type);
    if (resource?.updateCreate === false)
      warnings.push(`the server says it does not let clients choose ${type} ids (updateCreate false): PUT ${type}/<id> may be refused`);
  }
  const software = statement.software?.name ? [statement.software.name, statement.software.version].filter(Boolean).join(" ") : undefined;
  return { fhirVersion: statement.fhirVersion, software, warnings };
}

export function authRefused(status: number, what: string): LoadFailure {
  return new LoadFailure(
    "auth-refused",
    `the server refused our credentials (HTTP ${status} to ${what}): give a token it accepts (DCM2FHIR_TOKEN, --token-file) or client credentials (--client-id); nothing more is sent`,
  );
}
