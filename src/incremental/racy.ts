// Files that changed just before the scan looked at them ("racily clean", as git calls them). A file system
// stamps mtime and ctime from a clock that ticks coarsely, so a second write in the same tick as the one the
// scan saw leaves the file's identity as it was: a header read before that tick is over could be stale, and no
// later stat would show it. Such a file is read only once its last change is older than the tick (plus any
// clock skew between the file system and this machine): then a later write shows in its identity, and the
// state can trust it. Reading it at once and again on the next run instead would make that next run read
// bytes although nothing changed (issue 18: a run that only removed files read 598,016 bytes).
import { statfsSync } from "node:fs";
import type { FilePath } from "../core/reasons.js";
import type { FileIdentity } from "./entries.js";

/**
 * Unknown and network file systems: a file server stamps times from its own clock, which may run a little behind
 * this machine's, and some (FAT, HFS+, ext4 with small inodes, SMB) to the second or two.
 */
export const RACY_WINDOW_MS = 2000;

/**
 * Local file systems that stamp times from this machine's clock to the nanosecond: the kernel's coarse clock
 * that stamps them lags by at most one tick (1–10 ms), so 100 ms is ample.
 */
const LOCAL_WINDOW_MS = 100;
const LOCAL_FILE_SYSTEMS = new Set([
  0xef53, // ext2, ext3, ext4
  0x58465342, // xfs
  0x9123683e, // btrfs
  0x01021994, // tmpfs
  0x794c7630, // overlayfs (containers)
  0x2fc12fc1, // zfs
  0xf2f52010, // f2fs
]);

/** How long after its last change a file on this device can be trusted: known per device once asked. */
export class RacyWindows {
  private readonly byDevice = new Map<number, number>();

  /** The window for a file with this identity, at `path`. */
  of(path: FilePath, identity: FileIdentity): number {
    // Times in whole seconds: a file system that stamps no finer (ext4 with 128-byte inodes, FAT), whatever its type.
    if (identity.mtimeMs % 1000 === 0 && identity.ctimeMs % 1000 === 0) return RACY_WINDOW_MS;
    let window = this.byDevice.get(identity.dev);
    if (window === undefined) {
      let type: number | undefined;
      try {
        type = statfsSync(path).type;
      } catch {
        type = undefined;
      }
      window = type !== undefined && LOCAL_FILE_SYSTEMS.has(type) ? LOCAL_WINDOW_MS : RACY_WINDOW_MS;
      this.byDevice.set(identity.dev, window);
    }
    return window;
  }
}

/**
 * Waits until every one of these files' last change is older than its window, or `RACY_WINDOW_MS` at most (a
 * file stamped in the future, by a server whose clock runs ahead, stays racy: it is read again next time).
 */
export async function waitOutRacyWindows(
  files: ReadonlyArray<{ readonly path: FilePath; readonly identity: FileIdentity }>,
  windows: RacyWindows,
  signal?: AbortSignal,
): Promise<void> {
  let until = 0;
  for (const { path, identity } of files) until = Math.max(until, Math.max(identity.mtimeMs, identity.ctimeMs) + windows.of(path, identity) + 1);
  const wait = Math.min(until - Date.now(), RACY_WINDOW_MS);
  if (wait <= 0 || signal?.aborted) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, wait);
    signal?.addEventListener("abort", done, { once: true });
  });
}
