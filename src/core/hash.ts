// The hashes a sharded run depends on: which shard owns an entry, and which partition holds a study. They
// must give the same answer on every machine and in every version that reads the same parts (see PARTITIONING),
// so they are spelled out here rather than taken from a library: FNV-1a over the UTF-8 bytes, then MurmurHash3's
// finalizer, whose avalanche makes the high bits (which choose a partition) depend on every byte.

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const SEED_OWNER = 0x5eed0001;
const SEED_STUDY = 0x5eed0002;
const SEED_SOP_HIGH = 0x5eed0003;
const SEED_SOP_LOW = 0x5eed0004;

/** Names the scheme in a part's manifest: parts written under another are refused by merge. */
export const PARTITIONING = "fnv1a-fmix32 of the Study Instance UID, by range";

const TWO_TO_32 = 2 ** 32;

/** A 32-bit hash of a string's UTF-8 bytes (or of bytes). */
export function hash32(data: string | Uint8Array, seed: number): number {
  let h = (FNV_OFFSET ^ seed) >>> 0;
  if (typeof data === "string" && isAscii(data)) {
    for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data.charCodeAt(i), FNV_PRIME);
  } else {
    for (const byte of typeof data === "string" ? Buffer.from(data) : data) h = Math.imul(h ^ byte, FNV_PRIME);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Which of `count` shards owns an entry, by its key (0-based). */
export const ownerOf = (key: string | Uint8Array, count: number): number => hash32(key, SEED_OWNER) % count;

/** The 32-bit hash that places a study in a partition, whatever the partition count. */
export const studyHash = (studyInstanceUID: string): number => hash32(studyInstanceUID, SEED_STUDY);

/**
 * A 48-bit hash of a SOP Instance UID (exact in a JavaScript number and an SQLite integer): equal UIDs have equal
 * hashes; equal hashes are only candidates, compared by UID.
 */
export const sopHash = (sopInstanceUID: string): number => hash32(sopInstanceUID, SEED_SOP_HIGH) * 0x10000 + (hash32(sopInstanceUID, SEED_SOP_LOW) >>> 16);

export const SOP_HASH_LIMIT = 2 ** 48;

/** Partition of `count` that holds a study hash: partitions are ranges of the hash, so any count can be read from the same files. */
export const partitionOf = (h: number, count: number): number => Math.floor((h * count) / TWO_TO_32);

/** The hashes partition `p` of `count` holds: [from, to). */
export function partitionRange(p: number, count: number): readonly [number, number] {
  return [Math.ceil((p * TWO_TO_32) / count), Math.ceil(((p + 1) * TWO_TO_32) / count)];
}
