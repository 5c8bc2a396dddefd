// Folders listed ahead of the walk, many at once, for storage where every opendir and readdir is a round trip
// (lib/ioPace.ts decides when). The walk itself stays one folder at a time in the same order as ever: which
// entries it finds, and what it makes of links and loops, must not depend on which listing came back first.
// The lister only has the listings ready by the time the walk gets to them.
import type { Dir, Dirent } from "node:fs";
import { opendir } from "node:fs/promises";
import type { FilePath } from "../core/reasons.js";

/** Entries read ahead of the walk per folder; a larger folder's rest is read when the walk gets to it. */
const ENTRIES_AHEAD = 512;
/** Entries a listing asks the file system for at once. */
export const LISTING_BUFFER = 256;

export type FolderEntry = Dirent | Dirent<Buffer>;

/** A folder's entries in the order the file system gives them, as far as they are read. */
export interface Listing {
  /** The entries read and not yet taken by the walk. */
  entries: FolderEntry[];
  /** The folder, open for the rest of its entries; undefined once they are all read, or reading failed. */
  dir: Dir | undefined;
  /** Why the folder could not be opened (then it has no entries). */
  readonly openError?: unknown;
  /** Why reading its entries stopped early, after `entries`. */
  readError?: unknown;
}

/**
 * Lists folders ahead of the walk: at most `depth` listings in flight and `2 × depth` listed and not yet taken
 * (memory and open folders stay bounded however wide the tree), the folder the walk is going to take next first.
 */
export class FolderLister {
  private readonly ahead = new Map<string, Promise<Listing>>();
  /** Folders to list ahead, the next to take last (the walk takes the folder it pushed last first). */
  private readonly queue: FilePath[] = [];
  private inFlight = 0;
  private closed = false;

  constructor(private readonly depth: number) {}

  /** Folders the walk will take (in the reverse order of `folders`), to be listed meanwhile. */
  expect(folders: readonly FilePath[]): void {
    for (const path of folders) this.queue.push(path);
    this.pump();
  }

  /** A folder's listing: the one made ahead, or one made now. */
  take(path: FilePath): Promise<Listing> {
    const key = keyOf(path);
    const listing = this.ahead.get(key);
    if (!listing) {
      // Not started yet: it is the last one expected (the walk takes the last folder it pushed first).
      const last = this.queue[this.queue.length - 1];
      if (last !== undefined && keyOf(last) === key) this.queue.pop();
      return list(path, ENTRIES_AHEAD);
    }
    this.ahead.delete(key);
    // Only now is the listing's place free for another: a finished listing still holds its entries.
    void listing.then(() => this.pump());
    return listing;
  }

  /** More of a listing's entries, after its first ones are taken; false at its end (or when reading failed). */
  async more(listing: Listing): Promise<boolean> {
    const dir = listing.dir;
    if (!dir) return false;
    listing.entries = [];
    try {
      for (let entry = await dir.read(); entry !== null; entry = await dir.read()) {
        listing.entries.push(entry as FolderEntry);
        if (listing.entries.length === LISTING_BUFFER) return true;
      }
    } catch (error) {
      listing.readError = error;
    }
    await finish(listing);
    return listing.entries.length > 0;
  }

  /** Closes a taken listing's folder, if it is still open. */
  async finish(listing: Listing): Promise<void> {
    await finish(listing);
  }

  /** Closes the folders listed ahead and not taken (a walk that stopped early). */
  async close(): Promise<void> {
    this.closed = true;
    this.queue.length = 0;
    const left = [...this.ahead.values()];
    this.ahead.clear();
    await Promise.all(left.map(async (listing) => finish(await listing)));
  }

  private pump(): void {
    while (!this.closed && this.queue.length > 0 && this.inFlight < this.depth && this.ahead.size < 2 * this.depth) {
      const path = this.queue.pop()!;
      const key = keyOf(path);
      if (this.ahead.has(key)) continue;
      this.inFlight++;
      const listing = list(path, ENTRIES_AHEAD);
      this.ahead.set(key, listing);
      void listing.then(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }
}

/** Opens a folder and reads up to `count` of its entries; never rejects. */
async function list(path: FilePath, count: number): Promise<Listing> {
  let dir: Dir;
  try {
    // Names as text: a Buffer per name costs ~1 µs more a file; names that are not valid UTF-8 are listed again as bytes (walk.ts).
    dir = await opendir(path as string, { bufferSize: LISTING_BUFFER, encoding: (typeof path === "string" ? "utf8" : "buffer") as BufferEncoding });
  } catch (openError) {
    return { entries: [], dir: undefined, openError };
  }
  const listing: Listing = { entries: [], dir };
  try {
    for (let entry = await dir.read(); entry !== null; entry = await dir.read()) {
      listing.entries.push(entry as FolderEntry);
      if (listing.entries.length === count) return listing;
    }
  } catch (error) {
    listing.readError = error;
  }
  await finish(listing);
  return listing;
}

async function finish(listing: Listing): Promise<void> {
  const dir = listing.dir;
  listing.dir = undefined;
  try {
    await dir?.close();
  } catch {
    // Closing a folder that was read cannot lose anything.
  }
}

const keyOf = (path: FilePath): string => (typeof path === "string" ? path : `\0${path.toString("base64")}`);
