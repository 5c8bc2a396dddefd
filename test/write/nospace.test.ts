// A full disk is an expected condition: on a small tmpfs, a run that runs out of space at any point (lock,
// staging folder, outputs, changes/, state, journal) says so plainly, exits 3, keeps the previous output and
// state byte for byte, and leaves nothing behind that blocks or confuses the next run.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { convert } from "../../src/convert.js";
import { SEARCH_INDEX_FILE } from "../../src/core/outputFiles.js";
import { NoSpaceError } from "../../src/lib/outputFolder.js";
import { copyFixtures, everyFile, mainOutputs } from "../helpers/incremental.js";
import { CLI, REPO, tempDir } from "../helpers/run.js";
import { describeWith } from "../helpers/resources.js";

// Room for an output folder with its state, report.html (~220 kB, most of it the inlined Chart.js) and a run's staging.
const SIZE = 2 * 1024 * 1024;
const disk = tempDir("dcm2fhir-tmpfs-");
const unmountable = (() => {
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${SIZE}`, "tmpfs", disk], { stdio: "pipe" });
    return undefined;
  } catch (error) {
    return `mount -t tmpfs is not permitted here (${String((error as { stderr?: Buffer }).stderr ?? error).trim()})`;
  }
})();

afterAll(() => {
  if (!unmountable) execFileSync("umount", [disk]);
});

const free = () => {
  const s = statfsSync(disk);
  return s.bavail * s.bsize;
};

/** Fills the disk until `left` bytes are free (rounded down to its pages). */
function fillTo(left: number): void {
  rmSync(join(disk, "filler"), { force: true });
  const bytes = free() - left;
  if (bytes > 0) writeFileSync(join(disk, "filler"), Buffer.alloc(bytes));
}

/** No lock, journal or staging folder: nothing that would block or confuse the next run. */
/** What a run may leave behind it (lock, journal, staging): every hidden name of ours but the state folder and the search index, which are outputs. */
const leftovers = (out: string) => readdirSync(out).filter((n) => n.startsWith(".dcm2fhir") && n !== ".dcm2fhir" && n !== SEARCH_INDEX_FILE);

describeWith(unmountable, "a full disk", () => {
  it("already full: exit 3 with a plain message, and no empty lock file left", () => {
    const out = join(disk, "fhir-full");
    mkdirSync(out);
    fillTo(0);
    const r = spawnSync(process.execPath, [CLI, "convert", join(REPO, "fixtures/dicom"), "--out", out, "--timezone", "UTC", "--incremental"], {
      encoding: "utf8",
    });
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(
      /^dcm2fhir: no space left on the device holding --out \(ENOSPC while writing the lock file\): 0 kB free\. Nothing was written: the previous output and state are kept\. Free some space and run again\.\n$/,
    );
    expect(readdirSync(out)).toEqual([]);
    rmSync(join(disk, "filler"));
  });

  it("filling up anywhere in a run: exit 3, the previous output and state kept byte for byte, and the next run completes", async () => {
    const archive = copyFixtures(join(tempDir(), "archive"));
    const out = join(disk, "fhir");
    const run = () => convert({ inputs: [archive], out, timezone: "UTC", workers: 1, incremental: true, maxDelete: 100, format: "bundle" });
    await run();
    const committed = everyFile(out);
    // A change, so that every run writes outputs, changes/ and state.
    rmSync(join(archive, "charsets/greek.dcm"));
    const failedAt = new Set<string>();
    let completed = false;
    // From no space at all up to enough, one page more each time: each run stops at a later write.
    for (let left = 0; left <= 1024 * 1024 && !completed; left += 4096) {
      fillTo(left);
      try {
        await run();
        completed = true;
      } catch (error) {
        expect(error).toBeInstanceOf(NoSpaceError);
        const message = (error as Error).message;
        expect(message).toMatch(/^no space left on the device holding --out \((ENOSPC|SQLITE_FULL) while writing [a-z ]+\): .*Nothing was written/);
        failedAt.add(message.replace(/\d+(\.\d+)? [kMG]B/g, "N"));
        expect(everyFile(out)).toEqual(committed);
        expect(leftovers(out)).toEqual([]);
      }
    }
    expect(completed).toBe(true);
    // The runs ran out of space at several different points, not all at the first write.
    expect(failedAt.size).toBeGreaterThan(2);
    rmSync(join(disk, "filler"), { force: true });
    expect(leftovers(out)).toEqual([]);
    const fresh = tempDir();
    await convert({ inputs: [archive], out: fresh, timezone: "UTC", workers: 1, format: "bundle" });
    expect(mainOutputs(out)).toEqual(mainOutputs(fresh));
  });
});
