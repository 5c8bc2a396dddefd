// Tests that need something outside the repository (../shared/corpus, Orthanc, pydicom, chromium, a tmpfs) say so
// here. On a developer's machine a missing resource skips them, visibly, with what is missing in the title; under
// CI=true it fails them: CI installs what the suite needs (.ci/run), and a suite that skips green there hides a
// missing install step.
import { describe, it } from "vitest";

const inCI = process.env.CI === "true";

/** The test of a missing resource under CI: it fails, naming what is missing and where to install it. */
const missingInCI = (what: string) => () => {
  throw new Error(`${what}: under CI=true a test whose resource is missing fails; .ci/run installs it`);
};

/** `describe`, or (when `missing` names what is absent) skipped on a developer's machine and failed under CI. */
export function describeWith(missing: string | undefined, title: string, body: () => void): void {
  if (missing === undefined) describe(title, body);
  else if (inCI) describe(title, () => it(`MISSING: ${missing}`, missingInCI(missing)));
  else describe.skip(`${title} — SKIPPED: ${missing}`, body);
}

/** `it`, or (when `missing` names what is absent) skipped on a developer's machine and failed under CI. */
export function itWith(missing: string | undefined, title: string, body: () => unknown, timeout?: number): void {
  if (missing === undefined) it(title, body, timeout);
  else if (inCI) it(`${title} — MISSING: ${missing}`, missingInCI(missing));
  else it.skip(`${title} — SKIPPED: ${missing}`, body);
}
