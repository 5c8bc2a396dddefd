import { existsSync, readFileSync } from "node:fs";

/** From package.json: the nearest one above this module, which sits in src/, dist/ or dist/bin/. */
export const VERSION: string = (() => {
  for (let dir = new URL(".", import.meta.url); dir.pathname !== "/"; dir = new URL("..", dir)) {
    const candidate = new URL("package.json", dir);
    if (existsSync(candidate)) return (JSON.parse(readFileSync(candidate, "utf8")) as { version: string }).version;
  }
  return "unknown";
})();
