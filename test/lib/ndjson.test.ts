// The one NDJSON line reader ends lines where Node's readline does (LF, CRLF, a lone CR) whatever chunk boundary
// falls where, in its synchronous and asynchronous forms: load numbers lines for its checkpoint, and the numbers
// must not depend on how the file was read.
import { createReadStream, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import { ndjsonLines, ndjsonLinesAsync } from "../../src/lib/ndjson.js";
import { tempDir } from "../helpers/run.js";

async function readlineLines(path: string): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of createInterface({ input: createReadStream(path, { encoding: "latin1" }), crlfDelay: Number.POSITIVE_INFINITY })) lines.push(line);
  return lines;
}

/** Random text of a few letters and every kind of line end, blank lines and a missing last line end included. */
function randomText(seed: number, length: number): string {
  let state = seed;
  const next = () => (state = (state * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const pieces = ["a", "b", "{", "}", "\n", "\r", "\r\n", "\n\n", "é"];
  let text = "";
  while (text.length < length) text += pieces[Math.floor(next() * pieces.length)];
  return text;
}

describe("NDJSON lines", () => {
  const dir = tempDir("ndjson-");
  it("end where readline ends them, synchronously (with their offsets) and asynchronously at any chunk size", async () => {
    for (let seed = 1; seed <= 40; seed++) {
      const path = join(dir, `${seed}.ndjson`);
      const text = randomText(seed, 50 + seed * 37);
      const bytes = Buffer.from(text, "latin1");
      writeFileSync(path, bytes);
      const expected = await readlineLines(path);

      const sync = [...ndjsonLines(path)];
      // Blank lines are left out, but counted in the numbers.
      expect(sync.map((l) => l.line.toString("latin1"))).toEqual(expected.filter((l) => l !== ""));
      expect(sync.map((l) => expected[l.number - 1])).toEqual(sync.map((l) => l.line.toString("latin1")));
      for (const l of sync) expect(bytes.subarray(l.at, l.at + l.line.length).equals(l.line)).toBe(true);

      for (const chunk of [1, 2, 3, 7, 64]) {
        const lines: string[] = [];
        for await (const batch of ndjsonLinesAsync(path, chunk)) lines.push(...batch.map((b) => b.toString("latin1")));
        expect(lines, `seed ${seed}, chunks of ${chunk}`).toEqual(expected);
      }
    }
  });

  it("read a file with no line end at all, and an empty one", async () => {
    const one = join(dir, "one.ndjson");
    writeFileSync(one, '{"id":"x"}');
    expect([...ndjsonLines(one)].map((l) => l.line.toString())).toEqual(['{"id":"x"}']);
    const empty = join(dir, "empty.ndjson");
    writeFileSync(empty, "");
    expect([...ndjsonLines(empty)]).toEqual([]);
    const batches: Buffer[][] = [];
    for await (const batch of ndjsonLinesAsync(empty, 16)) batches.push(batch);
    expect(batches).toEqual([]);
  });
});
