// Root reads everything, so tests that need "permission denied" run the CLI as nobody (uid 65534). nobody must
// then reach the CLI, which it cannot when the checkout lies inside a folder other users cannot enter (a clone
// in a 0700 home, say). So nobody runs its own copy: dist/, package.json and the runtime dependencies, in a
// world-readable temporary folder; files are hard-linked when others may read them, copied otherwise.
import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { CLI, REPO, tempDir } from "./run.js";

const NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];

const asRoot = process.getuid?.() === 0;

/** The checkout, without a trailing separator, so that walking up from a package ends in it. */
const repo = REPO.replace(/\/+$/, "");
let copy: string | undefined;

/** The command that runs the CLI as an unprivileged user when the tests run as root, else as this user. */
export function unprivilegedCli(): string[] {
  if (!asRoot) return [process.execPath, CLI];
  copy ??= copyRuntime();
  return [...NOBODY, process.execPath, join(copy, "dist/bin/cli.js")];
}

/** A folder that anyone may enter and read; removed with the other temporary folders. */
export function worldReadableDir(prefix = "dcm2fhir-public-"): string {
  const dir = tempDir(prefix);
  chmodSync(dir, 0o755);
  return dir;
}

function copyRuntime(): string {
  const root = worldReadableDir("dcm2fhir-cli-");
  copyTree(join(repo, "dist"), join(root, "dist"));
  copyEntry(join(repo, "package.json"), join(root, "package.json"));
  for (const dir of runtimePackages()) copyTree(dir, join(root, dir.slice(repo.length)));
  return root;
}

/** The top-level node_modules folders the package's dependencies need, transitively (nested ones come with their parent). */
function runtimePackages(): string[] {
  const found = new Set<string>();
  const visit = (from: string, name: string) => {
    // Node's resolution: the nearest node_modules folder, walking up from the package that asks.
    for (let dir = from; dir.startsWith(repo); dir = dirname(dir)) {
      const candidate = join(dir, "node_modules", name);
      if (!existsSync(join(candidate, "package.json"))) continue;
      if (found.has(candidate)) return;
      found.add(candidate);
      for (const dependency of dependenciesOf(candidate)) visit(candidate, dependency);
      return;
    }
  };
  for (const dependency of dependenciesOf(repo)) visit(repo, dependency);
  // Nested packages are copied with the top-level folder that holds them.
  return [...found].filter((dir) => !dir.slice(join(repo, "node_modules").length).includes("/node_modules/"));
}

function dependenciesOf(packageDir: string): string[] {
  const manifest = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8")) as Record<string, Record<string, string> | undefined>;
  return Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies });
}

function copyTree(from: string, to: string): void {
  mkdirSync(to, { recursive: true, mode: 0o755 });
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    if (entry.isDirectory()) copyTree(join(from, entry.name), join(to, entry.name));
    else if (entry.isFile()) copyEntry(join(from, entry.name), join(to, entry.name));
  }
}

function copyEntry(from: string, to: string): void {
  const mode = statSync(from).mode;
  if (mode & 0o004) {
    try {
      linkSync(from, to);
      return;
    } catch {
      // Another file system, or links not allowed: copy.
    }
  }
  copyFileSync(from, to);
  chmodSync(to, mode & 0o111 ? 0o755 : 0o644);
}
