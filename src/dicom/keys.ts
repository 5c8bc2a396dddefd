// Keys: the raw bytes of chosen top-level elements, collected while parsing so that files sharing those bytes share
// what is made of them (instance.ts builds study and series attributes once per key).

/** Growable byte arena for keys, one per key and process: keys are built by appending, then looked at in place. */
export class KeyArena {
  private bytes = Buffer.allocUnsafe(4096);
  length = 0;
  valid = true;

  reset(prefix: number): void {
    this.length = 0;
    this.valid = true;
    this.bytes[this.length++] = prefix;
  }

  append(source: Buffer, start: number, end: number): void {
    const n = end - start;
    if (this.length + n > this.bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.length + n));
      this.bytes.copy(grown, 0, 0, this.length);
      this.bytes = grown;
    }
    // Values are mostly a few bytes: a loop beats Buffer.copy's argument checks.
    if (n < 128) for (let k = 0; k < n; k++) this.bytes[this.length + k] = source[start + k]!;
    else this.bytes.set(source.subarray(start, end), this.length);
    this.length += n;
  }

  view(): Buffer | undefined {
    return this.valid ? this.bytes.subarray(0, this.length) : undefined;
  }
}

export const keyArenas: KeyArena[] = [];
export const NO_KEYS: ReadonlyMap<number, number> = new Map();
/** How many keys a keyTags map makes (its highest bit), worked out once per map rather than per file. */
const keyCounts = new WeakMap<ReadonlyMap<number, number>, number>();
export function keyCountOf(keyTags: ReadonlyMap<number, number>): number {
  let count = keyCounts.get(keyTags);
  if (count === undefined) keyCounts.set(keyTags, (count = Math.max(0, ...[...keyTags.values()].map((mask) => 32 - Math.clz32(mask)))));
  return count;
}
