// Code that runs apart from the module starting it (a reader process, the index build's reading thread) is started
// from a compiled file: that file must be found from src/ (tests), dist/ (the library) and dist/bin/ (the CLI bundle, as .mjs).
import { existsSync } from "node:fs";
import { basename } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The compiled entry `srcPath` (its path under src/, as .js): beside the module asking (`callerUrl`, its
 * import.meta.url: dist/ and dist/bin/ keep it there); from TypeScript sources, the build's copy under dist/.
 */
export function compiledEntry(callerUrl: string, srcPath: string, what: string): string {
  const beside = fileURLToPath(new URL(`./${basename(srcPath)}`, callerUrl));
  if (existsSync(beside)) return beside;
  // The CLI bundle's entries are .mjs (see scripts/bundle.ts).
  const bundled = beside.replace(/\.js$/, ".mjs");
  if (existsSync(bundled)) return bundled;
  const built = fileURLToPath(new URL(`../../dist/${srcPath}`, import.meta.url));
  if (existsSync(built)) return built;
  throw new Error(`${what}'s compiled code is missing: run npm run build`);
}
