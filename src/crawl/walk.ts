import type { Dir, Dirent, Stats } from "node:fs";
import { opendirSync, readdir as readdirCallback, readdirSync } from "node:fs";
import { lstat, stat } from "node:fs/promises";
import { isUtf8 } from "node:buffer";
import { fromSystemError } from "../dicom/readFile.js";
import type { FileFailure, FilePath } from "../reasons.js";

/** A file to read, or something found while crawling that will not be read, with its reason. */
export type CrawlEntry = { readonly path: FilePath } | FileFailure;

export interface CrawlOptions {
  readonly followSymlinks: boolean;
  readonly signal?: AbortSignal;
}

/** An input as the user gave it, resolved before the crawl starts. */
export type ResolvedInput =
  | { readonly kind: "file"; readonly path: string }
  | { readonly kind: "folder"; readonly path: string }
  | { readonly kind: "glob"; readonly pattern: string }
  | { readonly kind: "other"; readonly path: string; readonly what: string };

/** Bad usage that names the problem and the fix; the CLI prints it as one line and exits 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/**
 * Resolves inputs: an existing path is taken literally even if it contains glob characters (folder names
 * like "[1]" are common); otherwise a pattern is a glob; anything else is an input that does not exist.
 * Inputs are followed even when they are symbolic links: the user named them.
 */
export async function resolveInputs(inputs: readonly string[], options: { verbose: boolean }): Promise<ResolvedInput[]> {
  if (inputs.length === 0) throw new UsageError("no inputs: name at least one DICOM file, folder or glob, e.g. dcm2fhir convert /archive --out ./fhir");
  const resolved: ResolvedInput[] = [];
  for (const [i, input] of inputs.entries()) {
    let stats: Stats | undefined;
    try {
      stats = await stat(input);
    } catch {
      stats = undefined;
    }
    if (stats?.isDirectory()) resolved.push({ kind: "folder", path: input });
    else if (stats?.isFile()) resolved.push({ kind: "file", path: input });
    else if (stats) resolved.push({ kind: "other", path: input, what: "not a regular file" });
    else if ((await fastGlob()).isDynamicPattern(input)) resolved.push({ kind: "glob", pattern: input });
    else {
      const shown = options.verbose ? `"${input}"` : `#${i + 1} (add --verbose to show it)`;
      throw new UsageError(`input ${shown} does not exist: check the path, or quote a glob so the shell does not expand it`);
    }
  }
  return resolved;
}

/**
 * Every file under the inputs, and a reasoned entry for everything that will not be read: unreadable folders,
 * symbolic links (unless followed), FIFOs, sockets and devices (never opened: a FIFO would block forever),
 * broken links and link loops. Names are kept as bytes where they are not valid UTF-8.
 */
export async function* crawl(inputs: readonly ResolvedInput[], options: CrawlOptions): AsyncGenerator<CrawlEntry> {
  for await (const entries of crawlInPieces(inputs, options)) yield* entries;
}

/** Entries of a folder listing go out together, at most this many: a huge flat folder is read as it is listed. */
const PIECE = 256;

/**
 * What `crawl` finds, in pieces of up to 256 entries as folders are listed: a hand-over per piece rather than
 * per file (passing each entry through an async generator costs ~0.5 µs, a tenth of a file's crawl).
 */
export async function* crawlInPieces(inputs: readonly ResolvedInput[], options: CrawlOptions): AsyncGenerator<CrawlEntry[]> {
  const walker = new Walker(options);
  for (const input of inputs) {
    if (options.signal?.aborted) return;
    if (input.kind === "file") yield [{ path: input.path }];
    else if (input.kind === "other") yield [{ path: input.path, reason: "not-a-regular-file", message: `the input is ${input.what}` }];
    else if (input.kind === "folder") yield* walker.walk(input.path);
    else for await (const entry of walker.glob(input.pattern)) yield [entry];
  }
}

interface DirectoryIdentity {
  readonly dev: number;
  readonly ino: number;
}

class Walker {
  /** Folders already walked, by device and inode, when links are followed: a second way in is not walked again. */
  private readonly walked = new Set<string>();

  constructor(private readonly options: CrawlOptions) {}

  async *walk(root: FilePath): AsyncGenerator<CrawlEntry[]> {
    // Depth-first with an explicit stack: archive trees can be deeper than a call stack likes.
    const stack: Array<{ path: FilePath; ancestors: readonly string[] }> = [];
    const rootIdentity = await this.identity(root);
    if (rootIdentity) this.walked.add(rootIdentity);
    stack.push({ path: root, ancestors: rootIdentity ? [rootIdentity] : [] });
    while (stack.length > 0) {
      // The listing is synchronous: a turn of the event loop per folder lets signals, timers and readers' answers in.
      await new Promise((resolve) => setImmediate(resolve));
      if (this.options.signal?.aborted) return;
      const { path: dir, ancestors } = stack.pop()!;
      // Listed as it is read (a folder of a million files must not be read whole before its first file is),
      // synchronously (a few hundred entries per system call; the promise of an asynchronous listing costs more
      // than the call), with names as text: a Buffer per name costs ~1 µs more a file. Names that are not
      // valid UTF-8 come out of the text listing mangled: they are taken from a byte listing at the end.
      let listing: Dir;
      try {
        listing = opendirSync(dir as string, { bufferSize: PIECE, encoding: (typeof dir === "string" ? "utf8" : "buffer") as BufferEncoding });
      } catch (error) {
        yield [fromSystemError(dir, error, "readdir")];
        continue;
      }
      let found: CrawlEntry[] = [];
      let mangled = false;
      try {
        for (let entry = listing.readSync(); entry !== null; entry = listing.readSync()) {
          if (typeof entry.name === "string" && entry.name.includes("\ufffd")) {
            mangled = true;
            continue;
          }
          const path = join(dir, entry.name);
          // Regular files, the common case, need no further system call and no await.
          const classified = entry.isFile() ? { path } : await this.classify(path, entry as Dirent | Dirent<Buffer>, ancestors);
          if ("folder" in classified) stack.push({ path, ancestors: classified.ancestors });
          else found.push(classified);
          if (found.length === PIECE) {
            yield found;
            found = [];
            await new Promise((resolve) => setImmediate(resolve));
          }
        }
      } catch (error) {
        found.push(fromSystemError(dir, error, "readdir"));
      } finally {
        listing.closeSync();
      }
      if (mangled) {
        try {
          for (const entry of readdirSync(dir as string, { withFileTypes: true, encoding: "buffer" })) {
            if (isUtf8(entry.name) && !entry.name.toString("utf8").includes("\ufffd")) continue;
            const path = join(dir, entry.name);
            const classified = entry.isFile() ? { path } : await this.classify(path, entry, ancestors);
            if ("folder" in classified) stack.push({ path, ancestors: classified.ancestors });
            else found.push(classified);
          }
        } catch (error) {
          found.push(fromSystemError(dir, error, "readdir"));
        }
      }
      if (found.length > 0) yield found;
    }
  }

  /**
   * Files a glob matches, and everything under the folders it matches. A file the glob also matched inside
   * such a folder is not listed twice.
   */
  async *glob(pattern: string): AsyncGenerator<CrawlEntry> {
    const unreadable: FileFailure[] = [];
    const walkedFolders = new Set<string>();
    const stream = (await fastGlob()).stream(pattern, {
      onlyFiles: false,
      dot: true,
      followSymbolicLinks: false,
      objectMode: true,
      // fast-glob silently drops folders it cannot read; record them instead, so that no loss goes unreported.
      fs: {
        readdir: (path: string, opts: { withFileTypes: true }, callback: (error: NodeJS.ErrnoException | null, entries: Dirent[]) => void) =>
          readdirCallback(path, opts, (error, entries) => {
            if (error && error.code !== "ENOENT") {
              unreadable.push(fromSystemError(path, error, "readdir"));
              callback(null, []);
            } else callback(error, entries);
          }),
      } as never,
    });
    for await (const item of stream as AsyncIterable<{ path: string; dirent: Dirent }>) {
      if (this.options.signal?.aborted) return;
      if (insideAny(item.path, walkedFolders)) continue;
      const found = await this.classify(item.path, item.dirent, []);
      if ("folder" in found) {
        walkedFolders.add(item.path.replace(/\/+$/, ""));
        for await (const entries of this.walk(item.path)) yield* entries;
      } else yield found;
      yield* unreadable.splice(0);
    }
    yield* unreadable.splice(0);
  }

  private async classify(path: FilePath, entry: Dirent<Buffer> | Dirent, ancestors: readonly string[]): Promise<CrawlEntry | { folder: true; ancestors: readonly string[] }> {
    if (entry.isFile()) return { path };
    if (entry.isDirectory()) {
      if (!this.options.followSymlinks) return { folder: true, ancestors };
      const id = await this.identity(path);
      if (id) this.walked.add(id);
      return { folder: true, ancestors: id ? [...ancestors, id] : ancestors };
    }
    if (entry.isSymbolicLink()) return this.followLink(path, ancestors);
    if (entry.isFIFO() || entry.isSocket() || entry.isCharacterDevice() || entry.isBlockDevice()) {
      const what = entry.isFIFO() ? "a FIFO" : entry.isSocket() ? "a socket" : "a device";
      return { path, reason: "not-a-regular-file", message: `${what}; never opened` };
    }
    // Some file systems do not report entry types: ask the inode.
    try {
      const s = await lstat(path as string);
      if (s.isFile()) return { path };
      if (s.isDirectory()) return { folder: true, ancestors };
      if (s.isSymbolicLink()) return this.followLink(path, ancestors);
      return { path, reason: "not-a-regular-file", message: "not a regular file; never opened" };
    } catch (error) {
      return fromSystemError(path, error, "lstat");
    }
  }

  private async followLink(path: FilePath, ancestors: readonly string[]): Promise<CrawlEntry | { folder: true; ancestors: readonly string[] }> {
    if (!this.options.followSymlinks) return { path, reason: "symlink", message: "a symbolic link; not followed (use --follow-symlinks)" };
    let target: Stats;
    try {
      target = await stat(path as string);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return { path, reason: "broken-symlink", message: "a symbolic link whose target does not exist" };
      return fromSystemError(path, error, "stat");
    }
    if (target.isFile()) return { path };
    if (!target.isDirectory()) return { path, reason: "not-a-regular-file", message: "a symbolic link to something that is not a regular file; never opened" };
    const id = key(target);
    if (ancestors.includes(id)) return { path, reason: "symlink-loop", message: "a symbolic link to a folder that contains it" };
    if (this.walked.has(id)) return { path, reason: "symlink", message: "a symbolic link to a folder that is already walked" };
    this.walked.add(id);
    return { folder: true, ancestors: [...ancestors, id] };
  }

  private async identity(path: FilePath): Promise<string | undefined> {
    if (!this.options.followSymlinks) return undefined;
    try {
      return key(await stat(path as string));
    } catch {
      return undefined;
    }
  }
}

/** Loaded on first use: most runs name folders, and fast-glob costs tens of milliseconds to load. */
let fastGlobModule: Promise<{ default: typeof import("fast-glob") }> | undefined;
const fastGlob = async () => (await (fastGlobModule ??= import("fast-glob"))).default;

function insideAny(path: string, folders: ReadonlySet<string>): boolean {
  for (let i = path.lastIndexOf("/"); i > 0; i = path.lastIndexOf("/", i - 1)) if (folders.has(path.slice(0, i))) return true;
  return false;
}

const key = (s: DirectoryIdentity) => `${s.dev}:${s.ino}`;

/** Joins a folder and an entry name, keeping bytes where the name is not valid UTF-8. */
function join(dir: FilePath, name: string | Buffer): FilePath {
  const separator = (typeof dir === "string" ? dir.endsWith("/") : dir[dir.length - 1] === 0x2f) ? "" : "/";
  if (typeof dir === "string" && typeof name === "string") return `${dir}${separator}${name}`;
  if (typeof dir === "string" && typeof name !== "string" && isUtf8(name)) return `${dir}${separator}${name.toString("utf8")}`;
  return Buffer.concat([typeof dir === "string" ? Buffer.from(dir) : dir, Buffer.from(separator), typeof name === "string" ? Buffer.from(name) : name]);
}
