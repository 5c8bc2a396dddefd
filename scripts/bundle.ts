// Bundles the command line (dist/bin/): one file to load instead of some two hundred modules, which is most
// of what `dcm2fhir --help` and every run pay before doing anything (measured here: 0.45 s -> 0.33 s for a
// run over an empty folder). The converter stays a lazily loaded chunk; the reader process and the index
// builder's thread are entries of their own. fast-glob stays external (CommonJS, loaded only for glob inputs).
// The library (dist/index.js) is not bundled.
import { fileURLToPath } from "node:url";
import { type Plugin, build } from "esbuild";
import { rmSync, writeFileSync } from "node:fs";
import { hashSources } from "../src/core/fingerprint.js";
import { AUTO_DEPTH } from "../src/lib/ioPace.js";

rmSync("dist/bin", { recursive: true, force: true });

/** Every copy of string-width (yargs, cliui, wrap-ansi) becomes scripts/lib/stringWidth.ts: see why there. */
const lightStringWidth: Plugin = {
  name: "light-string-width",
  setup(b) {
    const path = fileURLToPath(new URL("./lib/stringWidth.ts", import.meta.url));
    b.onResolve({ filter: /^string-width$/ }, () => ({ path }));
  },
};

await build({
  entryPoints: { cli: "dist/cli/main.js", readerProcess: "dist/read/readerProcess.js", indexWorker: "dist/index/indexWorker.js" },
  outdir: "dist/bin",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // better-sqlite3 is a native addon. fastify (loaded only by `serve`) is bundled: finding and reading its
  // 135 files one by one was a quarter of serve's start-up.
  external: ["fast-glob", "better-sqlite3"],
  plugins: [lightStringWidth],
  // fastify and its dependencies are CommonJS requiring Node's modules: an ESM bundle needs a real `require` for those.
  banner: { js: 'import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);' },
  // What an incremental run's state records of the converter (src/core/fingerprint.ts), computed once here.
  define: { __DCM2FHIR_CODE_HASH__: JSON.stringify(hashSources(process.cwd())) },
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: true,
  logLevel: "warning",
  // .mjs: ESM whatever the folder says; dist/bin/ is CommonJS for the sake of its entry, cli.js (below).
  outExtension: { ".js": ".mjs" },
});

// The entry is CommonJS, read synchronously: node's ESM loader reads modules through libuv's thread pool, and
// the pool's size (UV_THREADPOOL_SIZE) is read once, at its first use. Set here first, it lets the crawl, the
// incremental scan and this process's reads keep as many file operations in flight as --io-depth asks on
// network storage (lib/ioPace.ts), instead of libuv's 4.
writeFileSync("dist/bin/package.json", `${JSON.stringify({ type: "commonjs" })}\n`);
writeFileSync(
  "dist/bin/cli.js",
  `#!/usr/bin/env node
"use strict";
if (process.env.UV_THREADPOOL_SIZE === undefined) {
  const depth = process.argv.map((a, i, all) => (a === "--io-depth" ? all[i + 1] : a.startsWith("--io-depth=") ? a.slice(11) : undefined)).find((d) => d !== undefined);
  process.env.UV_THREADPOOL_SIZE = String(Math.min(1024, Math.max(${AUTO_DEPTH}, /^\\d+$/.test(depth ?? "") ? Number(depth) : 0)));
}
import("./cli.mjs");
`,
  { mode: 0o755 },
);
