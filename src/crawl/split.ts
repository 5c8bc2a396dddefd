// A shard's share of the inputs (convert --shard i/N): every entry the whole crawl would find goes to exactly
// one shard, and a shard walks only the subtrees it owns, so N shards over a huge tree do not each walk all of it.
//
// Every shard lists the top of each folder input the same way: folders are expanded breadth-first, one at a time
// in name order, until the frontier (the entries found and the folders not yet expanded) holds at least 8 × N
// entries, or the next folder is FRONTIER_DEPTH levels down. The listing is cheap (a few readdir calls; every
// shard makes the same) and gives every shard the same frontier. Each frontier entry belongs to the shard its path
// (relative to the input) hashes to; the shard walks the folders it owns to the bottom, alone. Eight entries per
// shard even out subtrees of different sizes; a list (--files-from) splits by line, which balances by file count.
//
// Globs: every shard expands the whole glob (fast-glob lists what it must) and keeps the matches it owns, walking
// the folders among them. Lists: every shard reads the whole list and keeps the lines it owns. Files named on the
// command line: each is one entry.
import { ownerOf } from "../core/hash.js";
import type { FilePath } from "../core/reasons.js";
import { listedPaths } from "./list.js";
import type { ResolvedInput } from "./inputs.js";
import { type CrawlEntry, type CrawlOptions, type Folder, Walker } from "./walk.js";

/** Which shard this is (1-based) of how many. */
export interface ShardShare {
  readonly index: number;
  readonly count: number;
}

export const ENTRIES_PER_SHARD = 8;
export const FRONTIER_DEPTH = 6;

/** The entries of `share`, as crawlInPieces gives the whole crawl's. */
export async function* crawlShare(inputs: readonly ResolvedInput[], share: ShardShare, options: CrawlOptions): AsyncGenerator<readonly CrawlEntry[]> {
  const walker = new Walker(options);
  const mine = share.index - 1;
  try {
    for (const [i, input] of inputs.entries()) {
      if (options.signal?.aborted) return;
      // Keys start with the input's position, so that two inputs' equal relative paths can go to different shards.
      const owns = (relative: FilePath) => ownerOf(Buffer.concat([Buffer.from(`${i}\0`), bytesOf(relative)]), share.count) === mine;
      if (input.kind === "file") {
        if (owns("")) yield [{ path: input.path }];
      } else if (input.kind === "other") {
        if (owns("")) yield [{ path: input.path, reason: "not-a-regular-file", message: `the input is ${input.what}` }];
      } else if (input.kind === "folder") yield* folderShare(walker, input.path, share, owns);
      else if (input.kind === "glob") yield* walker.glob(input.pattern, owns);
      else if (input.kind === "list") {
        for await (const paths of listedPaths(input.source, input.digest)) yield* walker.listed(paths.filter(owns));
      }
    }
  } finally {
    await walker.close();
  }
}

async function* folderShare(walker: Walker, root: string, share: ShardShare, owns: (relative: FilePath) => boolean): AsyncGenerator<readonly CrawlEntry[]> {
  const top = await frontier(walker, root, share.count);
  if (!top) return;
  const own = top.found.filter((entry) => owns(top.relative(entry.path)));
  if (own.length > 0) yield own;
  yield* walker.walkFolders(top.folders.filter((folder) => owns(top.relative(folder.path))).reverse());
}

/**
 * The top of a folder input as every shard of `count` lists it: the entries found and the folders left to walk,
 * with each one's path relative to the input (what decides its shard). Undefined for the output folder.
 */
export async function frontier(walker: Walker, root: string, count: number) {
  const start = await walker.rootFolder(root);
  if (!start) return undefined;
  const rootBytes = bytesOf(start.path);
  const found: CrawlEntry[] = [];
  const folders: Array<Folder & { readonly depth: number }> = [{ ...start, depth: 0 }];
  const target = ENTRIES_PER_SHARD * count;
  while (folders.length > 0 && found.length + folders.length < target && folders[0]!.depth < FRONTIER_DEPTH) {
    const folder = folders.shift()!;
    const listed = await walker.expand(folder);
    found.push(...listed.found);
    // In name order: the frontier, and so the split, must not depend on the order a file system lists entries in.
    listed.folders.sort((a, b) => Buffer.compare(bytesOf(a.path), bytesOf(b.path)));
    folders.push(...listed.folders.map((f) => ({ ...f, depth: folder.depth + 1 })));
  }
  return { found, folders, relative: (path: FilePath) => bytesOf(path).subarray(rootBytes.length) };
}

const bytesOf = (path: FilePath): Buffer => (typeof path === "string" ? Buffer.from(path) : path);
