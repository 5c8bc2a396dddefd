// The write stage's spools give their values back in key order, the same order in memory and in SQLite, with equal
// keys in the order they were added: the output files' order (studies by UID, patients by id, failures by path)
// rests on it, whichever spool a run uses.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MemorySpool, spoolFile, spoolKey } from "../../src/write/spool.js";
import { tempDir } from "../helpers/run.js";

/** Keys that sort differently as strings and as bytes, a key part that is a prefix of another, and equal keys. */
const KEYS: ReadonlyArray<readonly [ReadonlyArray<string | Buffer>, string]> = [
  [["1.2.10", "b"], "uid 1.2.10 b"],
  [["1.2.9"], "uid 1.2.9"],
  [["1.2", "z"], "prefix 1.2 then z"],
  [["1.2"], "prefix alone"],
  [["é"], "non-ASCII"],
  [["Z"], "capital Z"],
  [[Buffer.from([0xff, 0x01])], "bytes ff 01"],
  [["1.2.9"], "uid 1.2.9 again"],
  [["a"], "lower a"],
];

/** What Buffer.compare over the joined keys gives, equal keys kept in insertion order. */
const expected = () =>
  KEYS.map(([parts, value], i) => ({ key: spoolKey(...parts), value, i }))
    .sort((a, b) => Buffer.compare(a.key, b.key) || a.i - b.i)
    .map((e) => e.value);

describe("spools", () => {
  it("join key parts so that a part sorts before every longer part it begins", () => {
    expect(Buffer.compare(spoolKey("1.2", "z"), spoolKey("1.2.9")) < 0).toBe(true);
    expect(Buffer.compare(spoolKey("1.2"), spoolKey("1.2", "z")) < 0).toBe(true);
  });

  it("in memory: values in key order, equal keys in the order they came", () => {
    const spool = new MemorySpool();
    for (const [parts, value] of KEYS) spool.add(spoolKey(...parts), value);
    const values = [...spool.sorted()];
    expect(values).toEqual(expected());
    expect(values.indexOf("uid 1.2.9")).toBeLessThan(values.indexOf("uid 1.2.9 again"));
    expect(values[0]).toBe("prefix alone");
  });

  it("in SQLite: the same order as in memory, across its batched transactions, and for large values", async () => {
    const spool = await spoolFile(join(tempDir("spool-"), "spool.sqlite"));
    try {
      for (const [parts, value] of KEYS) spool.add(spoolKey(...parts), value);
      expect([...spool.sorted()]).toEqual(expected());
    } finally {
      spool.close();
    }
    // More rows than one transaction holds (10,000), added in reverse, with values of tens of kB.
    const big = await spoolFile(join(tempDir("spool-"), "big.sqlite"));
    const memory = new MemorySpool();
    try {
      const large = "x".repeat(40_000);
      for (let n = 25_000; n > 0; n--) {
        const key = spoolKey(`1.2.${n}`);
        const value = n % 5000 === 0 ? `${n}${large}` : String(n);
        big.add(key, value);
        memory.add(key, value);
      }
      const fromFile = [...big.sorted()];
      expect(fromFile).toEqual([...memory.sorted()]);
      expect(fromFile).toHaveLength(25_000);
      expect(fromFile[0]).toBe("1");
      expect(fromFile.find((v) => v.startsWith("5000"))).toHaveLength(4 + 40_000);
    } finally {
      big.close();
    }
  });
});
