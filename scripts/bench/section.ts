// One section of `npm run bench` (search, load, DICOMweb, incremental, shards): each measures on its own and
// returns its lines for the console and BENCHMARKS.md, its targets with a verdict, and its raw numbers.
export interface Target {
  readonly name: string;
  readonly value: number | null;
  /** As printed, e.g. "≥ 20000" or "< 10 ms". */
  readonly target: string;
  /** null: not measured on this machine (the line says why in `note`). */
  readonly pass: boolean | null;
  readonly note?: string;
}

export interface SectionResult {
  readonly title: string;
  /** The section's table and notes, as printed and as written into BENCHMARKS.md. */
  readonly lines: readonly string[];
  readonly targets: readonly Target[];
  /** Everything measured, for bench/results/<date>.json. */
  readonly data: unknown;
}

export interface BenchContext {
  readonly log: (line: string) => void;
  /** The repository root, and the built CLI (dist/bin/cli.js). */
  readonly repo: string;
  readonly cli: string;
  /** A scratch folder for this section (bench/tmp/<section>), gitignored. */
  readonly tmp: string;
  /** Smaller sizes and fewer runs, for checking the section works (`npm run bench -- --quick`). */
  readonly quick: boolean;
}

export type BenchSection = (context: BenchContext) => Promise<SectionResult>;

/** A section that could not run here (`missing` says what this machine lacks): its target listed, not judged. */
export function notMeasured(title: string, missing: string, target: Pick<Target, "name" | "target">): SectionResult {
  const note = `not measured: ${missing}`;
  return { title, lines: [note], targets: [{ ...target, value: null, pass: null, note }], data: { missing } };
}
