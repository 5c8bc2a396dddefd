// What an incremental run's stored state depends on besides the files: the options that change the output and
// the converter itself. A state made under another fingerprint is not used: the run reads everything again.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { VERSION } from "./version.js";

export interface Fingerprint {
  /** The version and a hash of the code and tables that read headers and map them (see converterHash). */
  readonly converter: string;
  /** Where times without Timezone Offset From UTC get their offset, and the zone rules ICU holds for it. */
  readonly timezone: string;
  readonly endpoint: string | null;
  readonly format: string;
  /** A site's own checks (library option), by the hash of their source text. */
  readonly extraValidation: string | null;
}

/** What each part of a fingerprint is called when the run says why it read everything again. */
const NAMES: Record<keyof Fingerprint, string> = {
  converter: "converter (version, code or mapping tables)",
  timezone: "--timezone (or machine time zone, or time zone rules)",
  endpoint: "--endpoint",
  format: "--format",
  extraValidation: "extraValidation",
};

export function fingerprintOf(options: {
  /** The zone times without an offset are read in (fhir/datatypes.ts ZoneRule). */
  zoneRule: { readonly zone: string; readonly source: string };
  endpoint?: string;
  format?: string;
  extraValidation?: (resource: never) => string | undefined;
}): Fingerprint {
  return {
    converter: `${VERSION} ${converterHash()}`,
    timezone: `${options.zoneRule.zone} (${options.zoneRule.source}), tz ${process.versions.tz ?? "unknown"}`,
    endpoint: options.endpoint ?? null,
    format: options.format ?? "ndjson",
    extraValidation: options.extraValidation ? sha256(options.extraValidation.toString()) : null,
  };
}

/** The parts that differ, named for the console; empty when the fingerprints are the same. */
export function fingerprintChanges(stored: Partial<Fingerprint>, current: Fingerprint): string[] {
  return (Object.keys(NAMES) as Array<keyof Fingerprint>).filter((k) => stored[k] !== current[k]).map((k) => NAMES[k]);
}

declare const __DCM2FHIR_CODE_HASH__: string | undefined;

let cached: string | undefined;

/**
 * A hash of everything under src/ and schemas/ (the reader, the grouping rules, the mapping and its code tables,
 * the validators): the bundled CLI has it compiled in (scripts/bundle.ts); run from sources or the library build,
 * it is computed here from the checkout. An installed package without sources has its version only, which
 * changes with every release.
 */
export function converterHash(): string {
  if (cached !== undefined) return cached;
  if (typeof __DCM2FHIR_CODE_HASH__ === "string") return (cached = __DCM2FHIR_CODE_HASH__);
  for (let dir = new URL("..", import.meta.url); dir.pathname !== "/"; dir = new URL("..", dir)) {
    const root = fileURLToPath(dir);
    if (existsSync(join(root, "package.json"))) return (cached = existsSync(join(root, "src")) ? hashSources(root) : "release");
  }
  return (cached = "release");
}

/** The hash of a checkout's sources; scripts/bundle.ts compiles the same into the CLI. */
export function hashSources(root: string): string {
  const hash = createHash("sha256");
  for (const folder of ["src", "schemas"]) {
    for (const file of filesUnder(join(root, folder))) hash.update(relative(root, file)).update("\0").update(readFileSync(file)).update("\0");
  }
  return hash.digest("hex").slice(0, 16);
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : e.isFile() ? [join(dir, e.name)] : []));
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 16);
