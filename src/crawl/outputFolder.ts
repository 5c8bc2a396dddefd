// The output folder, wherever the inputs reach it: what the crawl and the input resolution leave out.
import { realpathSync, statSync } from "node:fs";
import type { FilePath } from "../core/reasons.js";

/**
 * The output folder, recognised wherever the inputs reach it. A nightly job whose output lives inside the
 * archive is common, and its outputs, staging folder, lock and state are not DICOM: read as input they would
 * make every run's report differ from the one before.
 */
export interface OutputFolder {
  readonly dev: number;
  readonly ino: number;
  /** Its path with every link resolved: a folder reached by any path is inside it when its real path is. */
  readonly realPath: string;
}

/** The output folder as it is now; undefined when it does not exist (then nothing can lie inside it). */
export function outputFolderOf(path: string): OutputFolder | undefined {
  try {
    const s = statSync(path);
    return s.isDirectory() ? { dev: s.dev, ino: s.ino, realPath: realpathSync.native(path) } : undefined;
  } catch {
    return undefined;
  }
}

/** True for the output folder and everything under it. */
export function insideOutput(realPath: string, output: OutputFolder): boolean {
  return realPath === output.realPath || realPath.startsWith(output.realPath.endsWith("/") ? output.realPath : `${output.realPath}/`);
}

export function realPathInsideOutput(path: FilePath, output: OutputFolder): boolean {
  try {
    return insideOutput(realpathSync.native(path), output);
  } catch {
    return false;
  }
}
