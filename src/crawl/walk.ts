import type { Dir, Dirent, Stats } from "node:fs";
import { opendirSync, readdir as readdirCallback, readdirSync } from "node:fs";
import { lstat, readdir, stat } from "node:fs/promises";
import { isUtf8 } from "node:buffer";
import { basename, dirname, resolve } from "node:path";
import { type FileFailure, type FilePath, fromSystemError } from "../core/reasons.js";
import { type ResolvedInput, fastGlob } from "./inputs.js";
import type { IoPace } from "../lib/ioPace.js";
import { type FolderEntry, FolderLister } from "./lister.js";
import { listedPaths } from "./list.js";
import { type OutputFolder, realPathInsideOutput } from "./outputFolder.js";

/** A file to read, or something found while crawling that will not be read, with its reason. */
export type CrawlEntry = { readonly path: FilePath } | FileFailure;

export interface CrawlOptions {
  readonly followSymlinks: boolean;
  readonly signal?: AbortSignal;
  /** The output folder: never walked, wherever it lies under an input (see OutputFolder). */
  readonly outputFolder?: OutputFolder;
  /** Whether folders are listed one at a time or many at once (lib/ioPace.ts); default: one at a time. */
  readonly pace?: IoPace;
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
export async function* crawlInPieces(inputs: readonly ResolvedInput[], options: CrawlOptions): AsyncGenerator<readonly CrawlEntry[]> {
  const walker = new Walker(options);
  try {
    for (const input of inputs) {
      if (options.signal?.aborted) return;
      if (input.kind === "file") yield [{ path: input.path }];
      else if (input.kind === "other") yield [{ path: input.path, reason: "not-a-regular-file", message: `the input is ${input.what}` }];
      else if (input.kind === "folder") yield* walker.walk(input.path);
      else if (input.kind === "dicomweb") continue;
      else if (input.kind === "list") for await (const paths of listedPaths(input.source, input.digest)) yield* walker.listed(paths);
      else yield* walker.glob(input.pattern);
    }
  } finally {
    await walker.close();
  }
}

/** What an entry is: something to yield, a folder to walk, or the output folder (reached through a link). */
type Classified = CrawlEntry | { folder: true; ancestors: readonly string[] } | { output: true };

/** A folder to walk, and the folders (by device and inode) that lead to it when links are followed. */
export interface Folder {
  readonly path: FilePath;
  readonly ancestors: readonly string[];
}

interface DirectoryIdentity {
  readonly dev: number;
  readonly ino: number;
}

export class Walker {
  /** Folders already walked, by device and inode, when links are followed: a second way in is not walked again. */
  private readonly walked = new Set<string>();
  /** A folder entry can be the output folder only under the output folder's own name: only those are asked. */
  private readonly outputName: Buffer | undefined;
  /** Real paths of the folders glob matches lie in, each asked once. */
  private readonly realFolders = new Map<string, boolean>();
  /** Lists folders ahead of the walk once the pace is concurrent. */
  private lister: FolderLister | undefined;

  constructor(private readonly options: CrawlOptions) {
    this.outputName = options.outputFolder && Buffer.from(basename(options.outputFolder.realPath));
  }

  async *walk(root: FilePath): AsyncGenerator<readonly CrawlEntry[]> {
    const start = await this.rootFolder(root);
    if (start) yield* this.walkFolders([start]);
  }

  /** A folder input as the first folder to walk; undefined when it is the output folder or lies inside it. */
  async rootFolder(root: FilePath): Promise<Folder | undefined> {
    const output = this.options.outputFolder;
    if (output && realPathInsideOutput(root, output)) return undefined;
    const rootIdentity = await this.identity(root);
    if (rootIdentity) this.walked.add(rootIdentity);
    return { path: root, ancestors: rootIdentity ? [rootIdentity] : [] };
  }

  /** Everything under `folders`, depth-first with an explicit stack: archive trees can be deeper than a call stack likes. */
  async *walkFolders(stack: Folder[]): AsyncGenerator<readonly CrawlEntry[]> {
    if (this.options.pace?.concurrent) this.folderLister().expect(stack.map((f) => f.path));
    while (stack.length > 0) {
      // The listing is synchronous: a turn of the event loop per folder lets signals, timers and readers' answers in.
      await new Promise((resolve) => setImmediate(resolve));
      if (this.options.signal?.aborted) return;
      // Subfolders go on the stack as they are listed; the next one is taken when this folder is done.
      const pushed = stack.length - 1;
      yield* this.list(stack.pop()!, stack);
      // Listed ahead, many at once, where listings are slow; walked in the same order as ever.
      if (this.options.pace?.concurrent) this.folderLister().expect(stack.slice(pushed).map((f) => f.path));
    }
  }

  /** One folder's entries whole: what it holds to yield (files, refusals) and its subfolders to walk (the output folder left out). */
  async expand(folder: Folder): Promise<{ found: CrawlEntry[]; folders: Folder[] }> {
    const found: CrawlEntry[] = [];
    const folders: Folder[] = [];
    for await (const piece of this.list(folder, folders)) found.push(...piece);
    return { found, folders };
  }

  /** Closes what the walk holds open: folders listed ahead that it did not get to (it was stopped). */
  async close(): Promise<void> {
    await this.lister?.close();
  }

  /**
   * A folder's files and refusals in pieces of up to PIECE entries, listed as it is read (a folder of a million
   * files must not be read whole before its first file is), with names as text: a Buffer per name costs ~1 µs
   * more a file. Names that are not valid UTF-8 come out of the text listing mangled: they are taken from a
   * byte listing at the end. Subfolders (the output folder left out) are pushed onto `folders`.
   */
  private list(folder: Folder, folders: Folder[]): AsyncGenerator<CrawlEntry[]> {
    return this.options.pace?.concurrent ? this.listAhead(folder, folders) : this.listNow(folder, folders);
  }

  /**
   * `list`, synchronously (a few hundred entries per system call; the promise of an asynchronous listing costs
   * more than the call, where the call returns in microseconds). The opening is timed for the pace.
   */
  private async *listNow(folder: Folder, folders: Folder[]): AsyncGenerator<CrawlEntry[]> {
    const dir = folder.path;
    let listing: Dir;
    try {
      const open = () => opendirSync(dir as string, { bufferSize: PIECE, encoding: (typeof dir === "string" ? "utf8" : "buffer") as BufferEncoding });
      listing = this.options.pace ? this.options.pace.time(open) : open();
    } catch (error) {
      yield [fromSystemError(dir, error, "readdir")];
      return;
    }
    const into = { found: [] as CrawlEntry[] };
    const take = this.taker(folder, folders, into);
    let mangled = false;
    try {
      for (let entry = listing.readSync(); entry !== null; entry = listing.readSync()) {
        if (typeof entry.name === "string" && entry.name.includes("\ufffd")) {
          mangled = true;
          continue;
        }
        await take(entry as FolderEntry);
        if (into.found.length === PIECE) {
          yield into.found;
          into.found = [];
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
    } catch (error) {
      into.found.push(fromSystemError(dir, error, "readdir"));
    } finally {
      listing.closeSync();
    }
    if (mangled) {
      try {
        for (const entry of readdirSync(dir as string, { withFileTypes: true, encoding: "buffer" })) {
          if (isUtf8(entry.name) && !entry.name.toString("utf8").includes("\ufffd")) continue;
          await take(entry);
        }
      } catch (error) {
        into.found.push(fromSystemError(dir, error, "readdir"));
      }
    }
    if (into.found.length > 0) yield into.found;
  }

  /** `list`, from a listing made ahead (crawl/lister.ts): the same entries in the same order, the same refusals. */
  private async *listAhead(folder: Folder, folders: Folder[]): AsyncGenerator<CrawlEntry[]> {
    const dir = folder.path;
    const lister = this.folderLister();
    const listing = await lister.take(dir);
    if (listing.openError !== undefined) {
      yield [fromSystemError(dir, listing.openError, "readdir")];
      return;
    }
    const into = { found: [] as CrawlEntry[] };
    const take = this.taker(folder, folders, into);
    let mangled = false;
    try {
      do {
        for (const entry of listing.entries) {
          if (typeof entry.name === "string" && entry.name.includes("\ufffd")) {
            mangled = true;
            continue;
          }
          await take(entry);
          if (into.found.length === PIECE) {
            yield into.found;
            into.found = [];
          }
        }
      } while (await lister.more(listing));
    } finally {
      // Left early (the walk was stopped): the folder is closed all the same.
      await lister.finish(listing);
    }
    if (listing.readError !== undefined) into.found.push(fromSystemError(dir, listing.readError, "readdir"));
    if (mangled) {
      try {
        for (const entry of await readdir(dir as string, { withFileTypes: true, encoding: "buffer" })) {
          if (isUtf8(entry.name) && !entry.name.toString("utf8").includes("\ufffd")) continue;
          await take(entry);
        }
      } catch (error) {
        into.found.push(fromSystemError(dir, error, "readdir"));
      }
    }
    if (into.found.length > 0) yield into.found;
  }

  /** What a folder's entry becomes: a file or refusal in `into.found`, a subfolder on `folders` (the output folder left out). */
  private taker(folder: Folder, folders: Folder[], into: { found: CrawlEntry[] }): (entry: FolderEntry) => Promise<void> {
    const { path: dir, ancestors } = folder;
    return async (entry) => {
      const path = join(dir, entry.name);
      // Regular files, the common case, need no further system call and no await.
      const classified = entry.isFile() ? { path } : await this.classify(path, entry, ancestors);
      if ("folder" in classified) {
        if (!(await this.isOutputFolder(path, entry.name))) folders.push({ path, ancestors: classified.ancestors });
      } else if (!("output" in classified)) into.found.push(classified);
    };
  }

  private folderLister(): FolderLister {
    return (this.lister ??= new FolderLister(this.options.pace!.depth));
  }

  /**
   * Files a glob matches, and everything under the folders it matches. A file the glob also matched inside
   * such a folder is not listed twice. With `owns` (a shard's share), only the matches it owns are yielded or walked.
   */
  async *glob(pattern: string, owns: (path: string) => boolean = () => true): AsyncGenerator<readonly CrawlEntry[]> {
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
        if (owns(item.path)) yield* this.walk(item.path);
      } else if (!("output" in found) && !this.inOutputFolder(item.path) && owns(item.path)) yield [found];
      if (unreadable.length > 0) yield unreadable.splice(0).filter((f) => owns(f.path as string));
    }
    if (unreadable.length > 0) yield unreadable.splice(0).filter((f) => owns(f.path as string));
  }

  /**
   * Paths a list names, taken literally (never as globs) and followed if they are links, as the command line's are:
   * a file is read, a folder walked; a path in the output folder is left out, as any is.
   */
  async *listed(paths: readonly FilePath[]): AsyncGenerator<readonly CrawlEntry[]> {
    const kinds = await Promise.all(
      paths.map((path) =>
        stat(path as string).then(
          (s) => s,
          (error: unknown) => ({ error }),
        ),
      ),
    );
    const found: CrawlEntry[] = [];
    for (const [i, path] of paths.entries()) {
      if (this.options.signal?.aborted) return;
      const s = kinds[i]!;
      if ("error" in s) found.push(fromSystemError(path, s.error, "stat"));
      else if (this.inOutputFolder(path)) continue;
      else if (s.isFile()) found.push({ path });
      else if (s.isDirectory()) yield* this.walk(path);
      else found.push({ path, reason: "not-a-regular-file", message: "not a regular file; never opened" });
    }
    if (found.length > 0) yield found;
  }

  /** A folder entry that is the output folder (same device and inode): asked only of entries with its name. */
  private async isOutputFolder(path: FilePath, name: string | Buffer): Promise<boolean> {
    const output = this.options.outputFolder;
    if (!output || !(typeof name === "string" ? this.outputName!.toString() === name : this.outputName!.equals(name))) return false;
    try {
      const s = await stat(path as string);
      return s.dev === output.dev && s.ino === output.ino;
    } catch {
      return false;
    }
  }

  /** Whether a file a glob or a list names lies in the output folder (globs descend into folders by themselves). */
  inOutputFolder(path: FilePath): boolean {
    const output = this.options.outputFolder;
    if (!output) return false;
    const folder = dirname(resolve(path.toString()));
    let inside = this.realFolders.get(folder);
    if (inside === undefined) this.realFolders.set(folder, (inside = realPathInsideOutput(folder, output)));
    return inside;
  }

  private async classify(path: FilePath, entry: Dirent<Buffer> | Dirent, ancestors: readonly string[]): Promise<Classified> {
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

  private async followLink(path: FilePath, ancestors: readonly string[]): Promise<Classified> {
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
    const output = this.options.outputFolder;
    if (output && ((target.dev === output.dev && target.ino === output.ino) || realPathInsideOutput(path, output))) return { output: true };
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
