// The entries of the state (stateFile.ts), as a run holds them: what it knows of every path the last run found
// without reading the file again.

/**
 * What the state knows of a file without reading it: writing to a file changes its mtime and ctime (and most
 * often its size); replacing it changes its inode. Times are milliseconds with their fraction, as stat gives them.
 */
export interface FileIdentity {
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly ino: number;
  readonly dev: number;
  /** Changed too shortly before it was looked at to be trusted next time: read again whatever its identity. */
  readonly racy: boolean;
}

/** The stored entries, loaded at once: a run looks up every path it finds. Arrays are by id (ids are never reused: some are holes). */
export class StoredEntries {
  readonly ids = new Map<string, number>();
  readonly keys: Array<string | undefined>;
  readonly seen: Uint32Array;
  // NaN equals nothing: an unknown identity never matches.
  private readonly size: Float64Array;
  private readonly mtime: Float64Array;
  private readonly ctime: Float64Array;
  private readonly ino: Float64Array;
  private readonly dev: Float64Array;
  private readonly racy: Uint8Array;

  constructor(readonly count: number) {
    this.keys = new Array<string | undefined>(count);
    this.seen = new Uint32Array(count);
    const unknown = () => new Float64Array(count).fill(Number.NaN);
    this.size = unknown();
    this.mtime = unknown();
    this.ctime = unknown();
    this.ino = unknown();
    this.dev = unknown();
    this.racy = new Uint8Array(count);
  }

  set(id: number, key: string, seen: number, identity: FileIdentity | null): void {
    this.ids.set(key, id);
    this.keys[id] = key;
    this.seen[id] = seen;
    if (!identity) return;
    this.size[id] = identity.size;
    this.mtime[id] = identity.mtimeMs;
    this.ctime[id] = identity.ctimeMs;
    this.ino[id] = identity.ino;
    this.dev[id] = identity.dev;
    this.racy[id] = identity.racy ? 1 : 0;
  }

  /** Whether entry `id` was stored with this identity; `trusted` also asks that it was not racy then. */
  sameIdentity(id: number, s: Omit<FileIdentity, "racy">, trusted: boolean): boolean {
    return (
      s.size === this.size[id] &&
      s.mtimeMs === this.mtime[id] &&
      s.ctimeMs === this.ctime[id] &&
      s.ino === this.ino[id] &&
      s.dev === this.dev[id] &&
      !(trusted && this.racy[id])
    );
  }

  isRacy(id: number): boolean {
    return this.racy[id] === 1;
  }
}
