// Pins what the converter makes of ../shared/corpus into test/corpus/expected/, so that a change to the
// reader (for speed, say) that changes any resource shows up as a test failure. Review the diff before
// committing a re-pin: npx tsx scripts/pin-corpus.ts
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { convert } from "../src/convert.js";
import { SEARCH_INDEX_FILE } from "../src/core/outputFiles.js";

export const CORPUS_PARENT = fileURLToPath(new URL("../../shared/", import.meta.url));
export const PINNED_DIR = fileURLToPath(new URL("../test/corpus/expected/", import.meta.url));
/** Paths in errors.ndjson are relative to ../shared, so the pin does not depend on where the repo is. */
export const CORPUS_OPTIONS = { inputs: ["corpus"], timezone: "UTC", endpoint: "http://127.0.0.1:8042/dicom-web" } as const;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (!existsSync(join(CORPUS_PARENT, "corpus"))) throw new Error("../shared/corpus is absent");
  process.chdir(CORPUS_PARENT);
  rmSync(PINNED_DIR, { recursive: true, force: true });
  const { report } = await convert({ ...CORPUS_OPTIONS, out: PINNED_DIR, workers: 1 });
  writeFileSync(join(PINNED_DIR, "report.json"), `${JSON.stringify({ ...report, elapsedSeconds: 0 }, null, 2)}\n`);
  // The search index is derived from the NDJSON pinned here: it is checked by its own tests, not pinned.
  rmSync(join(PINNED_DIR, SEARCH_INDEX_FILE), { force: true });
  console.log(`pinned ${report.files.seen} files: ${report.studies} studies, ${report.instances} instances -> test/corpus/expected/`);
}
