// What the scripts derive and generate is checked in; these tests keep the checked-in copies honest.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FIXTURES_DIR, fixtures } from "../../scripts/make-fixtures.js";
import { ROOTS, deriveSchemas, officialSchemaPath, schemaFile } from "../../scripts/derive-schemas.js";
import { REASONS } from "../../src/core/reasons.js";
import { validateResource } from "../../src/validate/index.js";
import { REPO } from "../helpers/run.js";

describe("schemas/", () => {
  it("are exactly what scripts/derive-schemas.ts derives from HL7's fhir.schema.json", () => {
    const derived = deriveSchemas(JSON.parse(readFileSync(officialSchemaPath(), "utf8")));
    for (const root of ROOTS) expect(JSON.parse(readFileSync(schemaFile(root), "utf8")), root).toEqual(derived[root]);
  });

  it("leave out every other resource type: no ResourceList, no contained", () => {
    for (const root of ROOTS) {
      const text = readFileSync(schemaFile(root), "utf8");
      expect(text).not.toContain("#/definitions/ResourceList");
      expect(text).not.toContain('"contained"');
    }
  });

  it("compile into validators that reject what R4 forbids and what we never write", () => {
    const study = {
      resourceType: "ImagingStudy",
      id: "1.2.3",
      identifier: [],
      status: "available",
      subject: { reference: "Patient/p" },
      numberOfSeries: 0,
      numberOfInstances: 0,
      series: [],
    } as const;
    expect(validateResource(study)).toBeUndefined();
    expect(validateResource({ ...study, status: "bogus" } as never)).toMatch(/ImagingStudy\.status/);
    expect(validateResource({ ...study, contained: [{ resourceType: "Patient" }] } as never)).toMatch(/contained/);
    expect(validateResource({ ...study, started: "2024-01-01T10:00:00" })).toMatch(/started/);
    expect(validateResource({ ...study, series: [{ uid: "1.2", numberOfInstances: 0, instance: [] }] } as never)).toMatch(/modality/);
    expect(
      validateResource({ ...study, series: [{ modality: { code: "CT" }, numberOfInstances: 1, instance: [{ sopClass: { code: "x" } }] }] } as never),
    ).toMatch(/series\.0\.uid is required/);
    expect(validateResource({ resourceType: "Patient", id: "p", gender: "f" } as never)).toMatch(/gender/);
  });
});

describe("fixtures/dicom", () => {
  it("are exactly what scripts/make-fixtures.ts writes", () => {
    for (const f of fixtures()) expect(readFileSync(join(FIXTURES_DIR, f.path)).equals(f.bytes), f.path).toBe(true);
  });
});

describe("README", () => {
  it("documents every reason code with its outcome", () => {
    const readme = readFileSync(join(REPO, "README.md"), "utf8");
    for (const [reason, { outcome }] of Object.entries(REASONS)) expect(readme).toContain(`| \`${reason}\` | ${outcome} |`);
  });
});

describe("the installed package", () => {
  it("prints its own version, from package.json, wherever it is installed", async () => {
    // yargs guesses a version from the nearest package.json of the caller: inside a user's project that is
    // the project's (`npm init` says 1.0.0). Installing the packed tarball into such a project shows it.
    const { execFileSync } = await import("node:child_process");
    const { mkdtempSync, rmSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const project = mkdtempSync(join(tmpdir(), "dcm2fhir-installed-"));
    try {
      const tarball = execFileSync("npm", ["pack", "--ignore-scripts", "--silent", "--pack-destination", project], { cwd: REPO, encoding: "utf8" })
        .trim()
        .split("\n")
        .pop()!;
      execFileSync("npm", ["init", "-y"], { cwd: project, stdio: "ignore" });
      // Scripts off: --version and --help need none of the native dependencies.
      execFileSync("npm", ["install", "--ignore-scripts", "--prefer-offline", "--no-audit", "--no-fund", join(project, tarball)], {
        cwd: project,
        stdio: "ignore",
      });
      const ours = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).version as string;
      expect(JSON.parse(readFileSync(join(project, "package.json"), "utf8")).version).not.toBe(ours);
      const bin = join(project, "node_modules", ".bin", "dcm2fhir");
      expect(execFileSync(bin, ["--version"], { cwd: project, encoding: "utf8" }).trim()).toBe(ours);
      expect(execFileSync(bin, ["--help"], { cwd: project, encoding: "utf8" })).toMatch(/convert/);
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  }, 180_000);
});
