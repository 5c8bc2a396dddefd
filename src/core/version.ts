import { existsSync, readFileSync } from "node:fs";

/**
 * From package.json: the nearest one above this module (which sits in src/, dist/ or dist/bin/) that has a version;
 * dist/bin/'s own says only that its entry is CommonJS (scripts/bundle.ts).
 */
export const VERSION: string = (() => {
  for (let dir = new URL(".", import.meta.url); dir.pathname !== "/"; dir = new URL("..", dir)) {
    const candidate = new URL("package.json", dir);
    const version = existsSync(candidate) ? (JSON.parse(readFileSync(candidate, "utf8")) as { version?: string }).version : undefined;
    if (version !== undefined) return version;
  }
  return "unknown";
})();
