// What changes/ must hold between two outputs: shared by the incremental tests and the incremental bench, which
// both check a run's changes/ against the difference of two full runs' outputs.

/**
 * What changes/ must hold between two outputs (main files as mainOutputs gives them): the lines new or
 * different, in output order, and one {resourceType, id} line per resource gone, studies first.
 */
export function expectedChanges(before: Record<string, string>, after: Record<string, string>): Record<string, string> {
  const byId = (text: string | undefined) =>
    new Map(
      (text ?? "")
        .split("\n")
        .filter(Boolean)
        .map((line) => [(JSON.parse(line) as { id: string }).id, line]),
    );
  const result: Record<string, string> = {};
  const deleted: string[] = [];
  for (const type of ["ImagingStudy", "Patient", "Endpoint"]) {
    const old = byId(before[`${type}.ndjson`]);
    const lines = [...byId(after[`${type}.ndjson`]).entries()];
    if (type !== "Endpoint")
      result[`changes/${type}.ndjson`] = lines
        .filter(([id, line]) => old.get(id) !== line)
        .map(([, line]) => `${line}\n`)
        .join("");
    const now = new Set(lines.map(([id]) => id));
    for (const id of [...old.keys()].filter((id) => !now.has(id)).sort()) deleted.push(`${JSON.stringify({ resourceType: type, id })}\n`);
  }
  result["changes/deleted.ndjson"] = deleted.join("");
  return result;
}
