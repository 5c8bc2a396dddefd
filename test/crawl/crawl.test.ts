// The crawl on a hostile tree: permission-denied folders and files, broken links, link loops, FIFOs, sockets,
// devices, names with spaces, newlines and bytes that are not UTF-8. Nothing stops the run; everything is reported.
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, readFileSync, symlinkSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { type Server, createServer } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveInputs } from "../../src/crawl/inputs.js";
import { crawl, crawlInPieces } from "../../src/crawl/walk.js";
import { DicomFileReader } from "../../src/read/readFile.js";
import type { FileFailure } from "../../src/core/reasons.js";
import { REPO, readNdjson, tempDir } from "../helpers/run.js";
import { unprivilegedCli, worldReadableDir } from "../helpers/unprivileged.js";

const fixture = (path: string) => join(REPO, "fixtures/dicom", path);

interface ErrorLine {
  path: string;
  reason: string;
  message: string;
  pathBase64?: string;
}

function runCli(args: string[]) {
  // Root reads everything: the CLI runs as nobody so that permission denied is real.
  const [command, ...rest] = [...unprivilegedCli(), ...args];
  return spawnSync(command!, rest, { encoding: "utf8", timeout: 60_000 });
}

describe("a hostile tree", () => {
  let root: string;
  let tree: string;
  let server: Server;
  const nonUtf8 = Buffer.from([0x6e, 0x61, 0x6d, 0xe9, 0x2e, 0x64, 0x63, 0x6d]); // "nam\xe9.dcm", Latin-1 on disk
  const nonUtf8Junk = Buffer.from([0x6e, 0x6f, 0x74, 0x65, 0xff, 0x2e, 0x74, 0x78, 0x74]); // "note\xff.txt"

  beforeAll(async () => {
    root = worldReadableDir();
    tree = join(root, "archive");
    mkdirSync(join(tree, "locked"), { recursive: true });
    mkdirSync(join(tree, "loop"));
    copyFileSync(fixture("charsets/russian.dcm"), join(tree, "ok.dcm"));
    copyFileSync(fixture("charsets/greek.dcm"), join(tree, "name with spaces.dcm"));
    copyFileSync(fixture("charsets/hebrew.dcm"), join(tree, "new\nline.dcm"));
    writeFileSync(Buffer.concat([Buffer.from(`${tree}/`), nonUtf8]), readFileSync(fixture("charsets/arabic.dcm")));
    writeFileSync(Buffer.concat([Buffer.from(`${tree}/`), nonUtf8Junk]), "not DICOM at all");
    copyFileSync(fixture("charsets/latin9.dcm"), join(tree, "locked", "secret.dcm"));
    copyFileSync(fixture("no-patient-id/img.dcm"), join(tree, "unreadable.dcm"));
    execFileSync("mkfifo", [join(tree, "fifo")]);
    await new Promise<void>((resolve) => {
      server = createServer().listen(join(tree, "socket"), resolve);
    });
    symlinkSync(join(tree, "ok.dcm"), join(tree, "link-to-ok.dcm"));
    symlinkSync(join(tree, "missing.dcm"), join(tree, "broken-link"));
    symlinkSync("..", join(tree, "loop", "back"));
    symlinkSync("/dev/null", join(tree, "device"));
    chmodSync(join(tree, "locked"), 0o000);
    chmodSync(join(tree, "unreadable.dcm"), 0o000);
    mkdirSync(join(root, "out"));
    chmodSync(join(root, "out"), 0o777);
  });

  afterAll(() => {
    server?.close();
    chmodSync(join(tree, "locked"), 0o755);
  });

  function reasons(errors: ErrorLine[]): Record<string, string> {
    return Object.fromEntries(errors.map((e) => [e.path.slice(tree.length + 1), e.reason]));
  }

  it("reports every entry, follows no link, opens no FIFO, and completes", () => {
    const out = join(root, "out", "plain");
    const run = runCli(["convert", tree, "--out", out, "--timezone", "UTC", "--workers", "1"]);
    expect(run.status, run.stderr).toBe(0);
    const errors = readNdjson<ErrorLine>(join(out, "errors.ndjson"));
    expect(reasons(errors)).toEqual({
      "broken-link": "symlink",
      device: "symlink",
      fifo: "not-a-regular-file",
      "link-to-ok.dcm": "symlink",
      locked: "unreadable",
      "loop/back": "symlink",
      "note\ufffd.txt": "not-dicom",
      socket: "not-a-regular-file",
      "unreadable.dcm": "unreadable",
    });
    const junk = errors.find((e) => e.reason === "not-dicom")!;
    expect(Buffer.from(junk.pathBase64!, "base64").equals(Buffer.concat([Buffer.from(`${tree}/`), nonUtf8Junk]))).toBe(true);
    expect(errors.find((e) => e.reason === "unreadable" && e.path.endsWith("locked"))!.message).toContain("EACCES on readdir");
    const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
    expect(report.files).toMatchObject({ seen: 13, converted: 4, skipped: 7, failed: 2 });
    const titles = readNdjson<{ id: string }>(join(out, "ImagingStudy.ndjson"));
    expect(titles).toHaveLength(4);
  });

  it("with --follow-symlinks, follows links, detects the loop and the broken link", () => {
    const out = join(root, "out", "follow");
    const run = runCli(["convert", tree, "--out", out, "--timezone", "UTC", "--follow-symlinks", "--workers", "1"]);
    expect(run.status, run.stderr).toBe(0);
    const errors = readNdjson<ErrorLine>(join(out, "errors.ndjson"));
    expect(reasons(errors)).toEqual({
      "broken-link": "broken-symlink",
      device: "not-a-regular-file",
      fifo: "not-a-regular-file",
      locked: "unreadable",
      "loop/back": "symlink-loop",
      "note\ufffd.txt": "not-dicom",
      // The link and its target hold one instance; the path that sorts first is used.
      "ok.dcm": "duplicate",
      socket: "not-a-regular-file",
      "unreadable.dcm": "unreadable",
    });
  });
});

describe("files that change between listing and reading", () => {
  it("a file that vanishes is unreadable, one that shrinks is truncated; both are reported", async () => {
    const dir = tempDir();
    copyFileSync(fixture("charsets/russian.dcm"), join(dir, "vanishes.dcm"));
    copyFileSync(fixture("charsets/greek.dcm"), join(dir, "shrinks.dcm"));
    const listed = [];
    for await (const entry of crawl(await resolveInputs([dir], { verbose: false }), { followSymlinks: false })) listed.push(entry);
    unlinkSync(join(dir, "vanishes.dcm"));
    truncateSync(join(dir, "shrinks.dcm"), 200);
    const reader = new DicomFileReader();
    const results = Object.fromEntries(listed.map((e) => [String(e.path).slice(dir.length + 1), reader.read(e.path).result as FileFailure]));
    expect(results["vanishes.dcm"]).toMatchObject({ reason: "unreadable", message: "the file vanished after it was listed (ENOENT on open)" });
    expect(results["shrinks.dcm"]).toMatchObject({ reason: "truncated" });
  });
});

describe("inputs", () => {
  it("takes an existing path literally even with glob characters, expands globs, and walks matched folders", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, "[1]"));
    mkdirSync(join(dir, "series-a"));
    copyFileSync(fixture("charsets/russian.dcm"), join(dir, "[1]", "a.dcm"));
    copyFileSync(fixture("charsets/greek.dcm"), join(dir, "series-a", "b.dcm"));
    const resolved = await resolveInputs([join(dir, "[1]"), join(dir, "series-*")], { verbose: false });
    expect(resolved.map((r) => r.kind)).toEqual(["folder", "glob"]);
    const paths: string[] = [];
    for await (const e of crawl(resolved, { followSymlinks: false })) paths.push(String(e.path).slice(dir.length + 1));
    expect(paths.sort()).toEqual(["[1]/a.dcm", "series-a/b.dcm"]);
  });

  it("refuses an input that does not exist, naming it only when verbose", async () => {
    await expect(resolveInputs(["/nonexistent/Mueller"], { verbose: false })).rejects.toThrow(/input #1 \(add --verbose to show it\) does not exist/);
    await expect(resolveInputs(["/nonexistent/Mueller"], { verbose: true })).rejects.toThrow(/"\/nonexistent\/Mueller" does not exist/);
  });
});

describe("a large folder", () => {
  it("is handed over in pieces as it is listed, names that are not UTF-8 (or hold U+FFFD) kept exactly", async () => {
    const dir = tempDir();
    const names = Array.from({ length: 1000 }, (_, i) => `IM${String(i).padStart(6, "0")}`);
    for (const name of names) writeFileSync(join(dir, name), "");
    const latin1 = Buffer.from([0x6e, 0x61, 0x6d, 0xe9]); // "nam\xe9"
    writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), latin1]), "");
    writeFileSync(join(dir, "a\ufffdb"), ""); // valid UTF-8 that looks like a mangled name
    mkdirSync(join(dir, "sub"));
    writeFileSync(join(dir, "sub", "x"), "");
    const pieces: Array<Array<{ path: string | Buffer }>> = [];
    for await (const piece of crawlInPieces(await resolveInputs([dir], { verbose: false }), { followSymlinks: false })) pieces.push(piece as never);
    // Pieces of at most 256: the first files go to the readers before the folder is listed whole.
    expect(Math.max(...pieces.map((p) => p.length))).toBeLessThanOrEqual(256);
    const all = pieces.flat();
    expect(all).toHaveLength(1003);
    const strings = all
      .map((e) => e.path)
      .filter((p): p is string => typeof p === "string")
      .map((p) => p.slice(dir.length + 1));
    expect(strings.sort()).toEqual([...names, "a\ufffdb", "sub/x"].sort());
    const bytes = all.map((e) => e.path).filter((p): p is Buffer => Buffer.isBuffer(p));
    expect(bytes).toHaveLength(1);
    expect(bytes[0]!.equals(Buffer.concat([Buffer.from(`${dir}/`), latin1]))).toBe(true);
  });
});
