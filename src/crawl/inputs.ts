// The inputs as the user gave them (files, folders, globs, DICOMweb roots, --files-from lists), resolved before
// the crawl starts: what does not exist, or vanished, is bad usage rather than an empty archive.
import type { Stats } from "node:fs";
import { accessSync, constants, statSync } from "node:fs";
import { opendir, stat } from "node:fs/promises";
import { basename } from "node:path";
import type { Readable } from "node:stream";
import { UsageError } from "../core/errors.js";
import type { ListDigest } from "./list.js";
import { type OutputFolder, outputFolderOf, realPathInsideOutput } from "./outputFolder.js";

/** An input as the user gave it, resolved before the crawl starts. */
export type ResolvedInput =
  | { readonly kind: "file"; readonly path: string }
  | { readonly kind: "folder"; readonly path: string }
  | { readonly kind: "glob"; readonly pattern: string }
  | { readonly kind: "other"; readonly path: string; readonly what: string }
  /** An http(s) URL: a DICOMweb service root, read by source/dicomweb.ts rather than crawled. */
  | { readonly kind: "dicomweb"; readonly url: string }
  /** --files-from: a list of files and folders (crawl/list.ts), "-" for standard input. */
  | { readonly kind: "list"; readonly source: string; readonly digest: ListDigest };

/**
 * Resolves inputs: an existing path is taken literally even if it contains glob characters (folder names
 * like "[1]" are common); otherwise a pattern is a glob; anything else is an input that does not exist.
 * Inputs are followed even when they are symbolic links: the user named them.
 *
 * An archive that vanished is not an archive that was emptied: a glob that matches nothing (an unmounted
 * share) or a folder that holds nothing is bad usage, not an empty archive whose output would replace the
 * last one. Inputs that are the output folder or lie inside it are left out (a shell's `/archive/*` names the
 * output folder when it lives in the archive); the output folder does not count as an entry of a folder.
 */
export async function resolveInputs(inputs: readonly string[], options: { verbose: boolean; out?: string; filesFrom?: string }): Promise<ResolvedInput[]> {
  if (inputs.length === 0 && options.filesFrom === undefined)
    throw new UsageError("no inputs: name at least one DICOM file, folder or glob, e.g. dcm2fhir convert /archive --out ./fhir");
  const output = options.out === undefined ? undefined : outputFolderOf(options.out);
  const resolved: ResolvedInput[] = [];
  for (const [i, input] of inputs.entries()) {
    if (/^https?:\/\//i.test(input)) {
      resolved.push({ kind: "dicomweb", url: input });
      continue;
    }
    const shown = options.verbose ? `"${input}"` : `#${i + 1} (add --verbose to show it)`;
    let stats: Stats | undefined;
    try {
      stats = await stat(input);
    } catch {
      stats = undefined;
    }
    if (stats && output && realPathInsideOutput(input, output)) continue;
    if (stats?.isDirectory()) {
      if (await holdsNothing(input, output)) {
        throw new UsageError(
          `input ${shown} is an empty folder: an archive that vanished (an unmounted share?) is not an archive that was emptied; check it, or leave it out`,
        );
      }
      resolved.push({ kind: "folder", path: input });
    } else if (stats?.isFile()) resolved.push({ kind: "file", path: input });
    else if (stats) resolved.push({ kind: "other", path: input, what: "not a regular file" });
    else if ((await fastGlob()).isDynamicPattern(input)) {
      if (!(await matchesAnything(input, output))) {
        throw new UsageError(
          `input ${shown} matches nothing: an archive that vanished (an unmounted share?) is not an archive that was emptied; check it, or leave it out`,
        );
      }
      resolved.push({ kind: "glob", pattern: input });
    } else {
      throw new UsageError(`input ${shown} does not exist: check the path, or quote a glob so the shell does not expand it`);
    }
  }
  if (options.filesFrom !== undefined) resolved.push(listInput(options.filesFrom, options.verbose));
  if (resolved.length === 0) throw new UsageError("nothing to convert: every input is the output folder or inside it, and the output folder is never input");
  return resolved;
}

function listInput(source: string, verbose: boolean): ResolvedInput {
  if (source !== "-") {
    let stats: Stats | undefined;
    try {
      stats = statSync(source);
      accessSync(source, constants.R_OK);
    } catch {
      stats = undefined;
    }
    if (!stats || stats.isDirectory())
      throw new UsageError(
        `--files-from ${verbose ? `"${source}" ` : ""}is not a readable file: name a file holding one path per line, or - for standard input`,
      );
  }
  return { kind: "list", source, digest: {} };
}

/** A folder without entries, the output folder aside. One that cannot be listed is not empty: the crawl reports it. */
async function holdsNothing(folder: string, output: OutputFolder | undefined): Promise<boolean> {
  let dir;
  try {
    dir = await opendir(folder);
  } catch {
    return false;
  }
  try {
    for await (const entry of dir) {
      // Leaving the loop closes the folder.
      if (!output || !entry.isDirectory() || entry.name !== basename(output.realPath)) return false;
      const s = await stat(`${folder}/${entry.name}`);
      if (s.dev !== output.dev || s.ino !== output.ino) return false;
    }
  } catch {
    // A folder that cannot be listed, or an entry gone meanwhile: not empty; the crawl says what it finds.
    return false;
  }
  return true;
}

/** Whether a glob matches anything outside the output folder; stops at the first such match. */
async function matchesAnything(pattern: string, output: OutputFolder | undefined): Promise<boolean> {
  const stream = (await fastGlob()).stream(pattern, { onlyFiles: false, dot: true, followSymbolicLinks: false }) as Readable;
  try {
    for await (const path of stream as AsyncIterable<string>) {
      if (!output || !realPathInsideOutput(path, output)) return true;
    }
    return false;
  } catch {
    // A folder the glob cannot read is not an archive that vanished: the crawl reports it as unreadable.
    return true;
  } finally {
    stream.destroy();
  }
}

/** Loaded on first use: most runs name folders, and fast-glob costs tens of milliseconds to load. */
let fastGlobModule: Promise<{ default: typeof import("fast-glob") }> | undefined;
export const fastGlob = async () => (await (fastGlobModule ??= import("fast-glob"))).default;
