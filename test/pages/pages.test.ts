// The pages in a real browser: Debian's chromium, driven by playwright-core (nothing downloaded). report.html of a
// run and of an incremental run opened from file:// (every chart drawn, its numbers report.json's, no request out,
// no console error, no patient data), load-report.html, and the search page of `serve` against the API's answers.
// Under CI=true a missing chromium fails the suite; elsewhere it skips, saying so.
// DCM2FHIR_SCREENSHOTS=1 also writes the screenshots under docs/ that the README shows.
import { execFileSync } from "node:child_process";
import { appendFileSync, cpSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { type Browser, type BrowserContext, type Page, chromium } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { renderLoadReport } from "../../src/load/reportPage.js";
import { type RunningServer, startServer } from "../../src/serve/app.js";
import { SearchIndex, buildSearchIndex } from "../../src/index/searchIndex.js";
import { syntheticFolder } from "../helpers/loadData.js";
import { CLI, REPO, readNdjson, tempDir } from "../helpers/run.js";
import { describeWith } from "../helpers/resources.js";

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
const SCREENSHOTS = process.env.DCM2FHIR_SCREENSHOTS === "1";

const noChromium = haveChromium ? undefined : `${CHROMIUM} is missing (apt-get install chromium)`;

// biome-ignore lint: JSON read loosely
type Json = any;

// What the functions run in the page use of the DOM (the project's TypeScript has no DOM library, and src/ must not).
declare const document: { readonly documentElement: { readonly scrollWidth: number } };
declare const sessionStorage: { getItem(key: string): string | null };
declare const localStorage: { readonly length: number };
interface HTMLCanvasElement {
  readonly id: string;
  readonly width: number;
  readonly height: number;
  getContext(kind: "2d"): { getImageData(x: number, y: number, w: number, h: number): { readonly data: Uint8ClampedArray } } | null;
}
interface HTMLAnchorElement {
  readonly pathname: string;
}

let browser: Browser;
beforeAll(async () => {
  if (!haveChromium) return;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
    ],
  });
});
afterAll(async () => {
  await browser?.close();
});

interface Watched {
  readonly page: Page;
  readonly context: BrowserContext;
  /** Requests the page made other than to `allowed` (aborted). */
  readonly outside: string[];
  readonly errors: string[];
}

/** A page whose every request is intercepted: only `allowed(url)` goes through, the rest is noted and aborted. */
async function watchedPage(allowed: (url: string) => boolean, width = 1280): Promise<Watched> {
  const context = await browser.newContext({ viewport: { width, height: 900 }, serviceWorkers: "block" });
  const outside: string[] = [];
  const errors: string[] = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (allowed(url)) return route.continue();
    outside.push(url);
    return route.abort();
  });
  const page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(error.message));
  return { page, context, outside, errors };
}

function cli(...args: string[]): void {
  execFileSync(process.execPath, [CLI, ...args], { cwd: REPO, stdio: "pipe" });
}

const valueAt = (json: Json, key: string): unknown => key.split(".").reduce((v, k) => (v === undefined ? undefined : v[k]), json);

/** Opens a report page from disk and checks what every report must hold. Returns the page, still open. */
async function checkReport(htmlPath: string, jsonPath: string, width = 1280): Promise<Watched> {
  const url = pathToFileURL(htmlPath).href;
  const watched = await watchedPage((u) => u === url, width);
  await watched.page.goto(url);
  const report = JSON.parse(readFileSync(jsonPath, "utf8"));

  // Every chart drawn: a canvas with a size and pixels that are not transparent.
  const charts = await watched.page.$$eval("figure[data-chart] canvas", (canvases) =>
    (canvases as HTMLCanvasElement[]).map((c) => {
      const data = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
      let painted = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) painted++;
      return { id: c.id, width: c.width, height: c.height, painted };
    }),
  );
  expect(charts.length).toBeGreaterThan(0);
  for (const chart of charts) {
    expect(chart.width, chart.id).toBeGreaterThan(0);
    expect(chart.painted, `${chart.id} is drawn`).toBeGreaterThan(100);
  }

  // Every number the page marks is report.json's.
  const numbers = await watched.page.$$eval("[data-report]", (elements) =>
    elements.map((e) => [e.getAttribute("data-report")!, e.textContent!.trim()] as const),
  );
  expect(numbers.length).toBeGreaterThan(8);
  for (const [key, text] of numbers) expect(Number(text), key).toBe(valueAt(report, key));

  expect(watched.outside).toEqual([]);
  expect(watched.errors).toEqual([]);
  return watched;
}

/** Values of patients and studies that must not be in a report: names, identifiers, birth dates, accession numbers. */
function patientValues(folder: string): string[] {
  const values = new Set<string>();
  for (const p of readNdjson<Json>(join(folder, "Patient.ndjson"))) {
    for (const i of p.identifier ?? []) values.add(i.value);
    for (const n of p.name ?? []) for (const part of [n.family, ...(n.given ?? []), n.text]) if (part) values.add(part);
    if (p.birthDate) values.add(p.birthDate);
  }
  for (const s of readNdjson<Json>(join(folder, "ImagingStudy.ndjson"))) {
    for (const i of s.identifier ?? []) if (i.type?.coding?.[0]?.code === "ACSN") values.add(i.value);
    values.add(s.id);
  }
  // A fixture's patient is named "Test^Patient": the page names the resource type Patient all the same.
  return [...values].filter((v) => typeof v === "string" && v.length >= 4 && !["Patient", "ImagingStudy", "Endpoint"].includes(v));
}

async function screenshot(page: Page, name: string): Promise<void> {
  if (SCREENSHOTS) await page.screenshot({ path: join(REPO, "docs", name), fullPage: true });
}

describeWith(noChromium, "report.html", () => {
  it("of the sample run: charts drawn, report.json's numbers, nothing fetched, no patient data", async () => {
    const out = tempDir("dcm2fhir-pages-");
    cli("convert", "fixtures/dicom", "--out", out, "--timezone", "Europe/Zurich");
    // The page without its code (Chart.js, the drawing script: they name things such as Date, a fixture's
    // patient's name), but with the charts' data.
    const html = readFileSync(join(out, "report.html"), "utf8").replace(/<script>[\s\S]*?<\/script>/g, "");
    expect(html.length).toBeLessThan(100_000);
    // As a word: a name part such as "Date" is also in the attribute keyword StudyDate.
    const holds = (value: string) => new RegExp(`(?<![A-Za-z0-9])${value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?![A-Za-z0-9])`).test(html);
    for (const value of patientValues(out)) expect(holds(value), `report.html holds ${value}`).toBe(false);
    for (const error of readNdjson<Json>(join(out, "errors.ndjson"))) expect(html.includes(error.path)).toBe(false);
    expect(html).not.toContain("fixtures/dicom");
    expect(html).not.toMatch(/<(script|link|img|iframe)[^>]+(src|href)=/i);

    const { page, context } = await checkReport(join(out, "report.html"), join(out, "report.json"));
    for (const id of ["chart-outcome", "chart-reasons", "chart-modality", "chart-year", "chart-series", "chart-instances"])
      expect(await page.locator(`#${id}`).count(), id).toBe(1);
    await screenshot(page, "report-desktop.png");
    await context.close();
    const phone = await checkReport(join(out, "report.html"), join(out, "report.json"), 400);
    // Readable at 400 px: nothing wider than the window.
    expect(await phone.page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(400);
    await screenshot(phone.page, "report-phone.png");
    await phone.context.close();
  });

  it("of an incremental run shows what changed; --report-details adds the failing paths; --no-html-report writes none", async () => {
    const archive = tempDir("dcm2fhir-pages-archive-");
    cpSync(join(REPO, "fixtures/dicom"), archive, { recursive: true });
    const out = tempDir("dcm2fhir-pages-inc-");
    cli("convert", archive, "--out", out, "--incremental", "--timezone", "Europe/Zurich");
    rmSync(join(archive, "conflict"), { recursive: true });
    appendFileSync(join(archive, "bad", "notes.txt"), "more notes\n");
    cli("convert", archive, "--out", out, "--incremental", "--timezone", "Europe/Zurich", "--report-details");
    const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
    expect(report.files.removed).toBeGreaterThan(0);
    const { page, context } = await checkReport(join(out, "report.html"), join(out, "report.json"));
    expect(await page.locator("#chart-file-changes").count()).toBe(1);
    expect(await page.locator('[data-report="changes.ImagingStudy.deleted"]').textContent()).toBe(String(report.changes.ImagingStudy.deleted));
    const failed = readNdjson<Json>(join(out, "errors.ndjson")).filter(
      (e) => e.reason !== "not-dicom" && e.reason !== "dicomdir" && e.reason !== "empty" && e.reason !== "duplicate",
    );
    expect(failed.length).toBeGreaterThan(0);
    for (const e of failed) expect(await page.locator("#details").locator("xpath=..").textContent()).toContain(e.path);
    await context.close();

    cli("convert", archive, "--out", out, "--incremental", "--timezone", "Europe/Zurich", "--no-html-report");
    expect(existsSync(join(out, "report.html"))).toBe(false);
  });

  it("after merge: the shards' report, report.json's numbers", async () => {
    const parts = [1, 2].map((i) => {
      const part = tempDir(`dcm2fhir-pages-shard-${i}-`);
      cli("convert", "fixtures/dicom", "--shard", `${i}/2`, "--out", part, "--timezone", "Europe/Zurich");
      return part;
    });
    const out = tempDir("dcm2fhir-pages-merge-");
    cli("merge", ...parts, "--out", out);
    const { page, context } = await checkReport(join(out, "report.html"), join(out, "report.json"));
    expect(await page.locator("[data-parts]").textContent()).toBe("2");
    await context.close();
  });

  it("load-report.html: load's counts, drawn, from disk", async () => {
    const dir = tempDir("dcm2fhir-pages-load-");
    const report = {
      sent: 120,
      created: 100,
      updated: 12,
      rejected: 3,
      retried: 7,
      elapsed: 4.2,
      "resources/s": 28.6,
      deleted: 0,
      failed: 1,
      invalid: 4,
      skipped: 0,
      requests: 9,
      dcm2fhir: "0.1.0",
      server: "https://fhir.example.org/R4",
      bundle: "transaction",
      mode: "full",
      delete: false,
      dryRun: false,
      complete: true,
      splits: 2,
      phases: [
        { resourceType: "Endpoint", action: "upsert", sent: 1, created: 1, updated: 0, deleted: 0, rejected: 0, failed: 0, invalid: 0, skipped: 0 },
        { resourceType: "Patient", action: "upsert", sent: 40, created: 35, updated: 4, deleted: 0, rejected: 1, failed: 0, invalid: 1, skipped: 0 },
        { resourceType: "ImagingStudy", action: "upsert", sent: 79, created: 64, updated: 8, deleted: 0, rejected: 2, failed: 1, invalid: 3, skipped: 0 },
      ],
      storedBySecond: [30, 70, 101, 112],
    } as const;
    writeFileSync(join(dir, "load-report.json"), JSON.stringify(report));
    writeFileSync(join(dir, "load-report.html"), renderLoadReport(report));
    const { context } = await checkReport(join(dir, "load-report.html"), join(dir, "load-report.json"));
    await context.close();
  });
});

/** A folder of two patients (SYN-0, SYN-1) with 25 studies each, every third one MR instead of CT; indexed. */
async function searchFolder(): Promise<string> {
  const dir = await syntheticFolder(2, 25);
  const studies = readNdjson<Json>(join(dir, "ImagingStudy.ndjson")).map((s, i) => {
    if (i % 3 !== 0) return s;
    const mr = { system: "http://dicom.nema.org/resources/ontology/DCM", code: "MR" };
    return { ...s, modality: [mr], series: s.series.map((x: Json) => ({ ...x, modality: mr })) };
  });
  writeFileSync(join(dir, "ImagingStudy.ndjson"), studies.map((s) => `${JSON.stringify(s)}\n`).join(""));
  buildSearchIndex(dir, join(dir, ".dcm2fhir.search.sqlite"), "Europe/Zurich");
  return dir;
}

const VIEWER = "https://viewer.example.org/viewer?StudyInstanceUIDs={study}";

describeWith(noChromium, "the search page", () => {
  let folder: string;
  const servers: Array<{ server: RunningServer; index: SearchIndex }> = [];
  beforeAll(async () => {
    folder = await searchFolder();
  });
  afterAll(async () => {
    for (const { server, index } of servers) {
      await server.close();
      index.close();
    }
  });
  const serve = async (token?: string) => {
    const index = SearchIndex.open(folder);
    const server = await startServer({ index, host: "127.0.0.1", port: 0, basePath: "/fhir", token, allowOpenSearch: false, viewerUrl: VIEWER });
    servers.push({ server, index });
    return server.base;
  };
  const api = async (base: string, query: string, token?: string) => {
    const response = await fetch(`${base}ImagingStudy?${query}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    return { status: response.status, json: (await response.json()) as Json };
  };
  const rows = (page: Page) => page.locator("#studies tbody tr.study");

  it("answers HTML to a browser only; API clients keep FHIR JSON", async () => {
    const base = await serve();
    const html = await fetch(base, { headers: { accept: "text/html,application/xhtml+xml" } });
    expect(html.status).toBe(200);
    expect(html.headers.get("content-type")).toContain("text/html");
    for (const accept of ["application/fhir+json", "*/*", ""]) {
      const json = await fetch(base, { headers: accept ? { accept } : {} });
      expect(json.headers.get("content-type"), accept).toContain("application/fhir+json");
    }
  });

  it("searches by patient identifier, filters by modality, pages, expands a study, links to its JSON and the viewer", async () => {
    const base = await serve();
    const origin = new URL(base).origin;
    const { page, context, outside, errors } = await watchedPage((u) => u.startsWith(origin));
    await page.goto(base);
    await expect.poll(() => page.locator("#status").textContent()).toContain("50 studies of 2 patients");

    await page.getByLabel("Patient identifier").fill("SYN-0");
    await page.getByLabel("Patient identifier").press("Enter");
    await expect.poll(() => rows(page).count()).toBe(20);
    const first = await api(base, "patient.identifier=SYN-0&_count=20");
    const shownIds = await rows(page)
      .locator("a", { hasText: "JSON" })
      .evaluateAll((links) => links.map((a) => (a as HTMLAnchorElement).pathname));
    expect(shownIds).toEqual(first.json.entry.map((e: Json) => `/fhir/ImagingStudy/${encodeURIComponent(e.resource.id)}`));
    expect(await page.locator("#summary").textContent()).toContain("25 studies found");
    for (const date of await rows(page).locator("td:first-child").allTextContents()) expect(date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    await screenshot(page, "search-desktop.png");

    // Paging: the Bundle's next link.
    await page.getByRole("button", { name: "Next page" }).click();
    await expect.poll(() => rows(page).count()).toBe(5);
    const second = await api(base, first.json.link.find((l: Json) => l.relation === "next").url.split("?")[1]);
    expect(
      await rows(page)
        .locator("a", { hasText: "JSON" })
        .evaluateAll((links) => links.map((a) => (a as HTMLAnchorElement).pathname.split("/").pop())),
    ).toEqual(second.json.entry.map((e: Json) => encodeURIComponent(e.resource.id)));

    // Modality filter.
    await page.getByLabel("Modality").selectOption("MR");
    await page.getByRole("button", { name: "Search", exact: true }).click();
    const mr = await api(base, "patient.identifier=SYN-0&modality=MR&_count=20");
    await expect.poll(() => rows(page).count()).toBe(mr.json.total);
    for (const modalities of await rows(page).locator("td:nth-child(2)").allTextContents()) expect(modalities).toBe("MR");

    // A study's series, and its viewer link.
    const row = rows(page).first();
    await row.getByRole("button", { name: /Show \d+ series/ }).click();
    const series = page.locator("#studies tbody tr.series-row").first();
    await expect.poll(() => series.isVisible()).toBe(true);
    expect(await series.locator("tbody tr").count()).toBe(mr.json.entry[0].resource.series.length);
    const uid = mr.json.entry[0].resource.identifier[0].value.replace("urn:oid:", "");
    expect(await row.getByRole("link", { name: /viewer/ }).getAttribute("href")).toBe(VIEWER.replace("{study}", encodeURIComponent(uid)));

    // An empty patient identifier is sent, and the API's 400 message is shown.
    await page.getByLabel("Modality").selectOption("");
    await page.getByLabel("Patient identifier").fill("");
    await page.getByLabel("Patient identifier").press("Enter");
    const refused = await api(base, "patient.identifier=&_count=20");
    expect(refused.status).toBe(400);
    await expect.poll(() => page.getByRole("alert").textContent()).toContain(refused.json.issue[0].diagnostics);

    expect(outside).toEqual([]);
    // Chromium itself logs the 400 answer ("Failed to load resource"): the page's own code logged nothing.
    expect(errors.filter((e) => !e.includes("status of 400"))).toEqual([]);
    await context.close();

    const phone = await watchedPage((u) => u.startsWith(origin), 400);
    await phone.page.goto(base);
    await phone.page.getByLabel("Patient identifier").fill("SYN-1");
    await phone.page.getByLabel("Patient identifier").press("Enter");
    await expect.poll(() => rows(phone.page).count()).toBe(20);
    expect(await phone.page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(400);
    expect(await phone.page.locator("#studies tbody tr.series-row").first().isVisible()).toBe(false);
    await rows(phone.page)
      .first()
      .getByRole("button", { name: /Show \d+ series/ })
      .click();
    await screenshot(phone.page, "search-phone.png");
    await phone.context.close();
  });

  it("asks for the token when serve requires one, and searches nothing before it is given", async () => {
    const base = await serve("s3cret-token");
    const origin = new URL(base).origin;
    const requests: string[] = [];
    const { page, context } = await watchedPage((u) => (requests.push(u), u.startsWith(origin)));
    await page.goto(base);
    await expect.poll(() => page.getByLabel("Bearer token").isVisible()).toBe(true);
    expect(await page.getByLabel("Patient identifier").isVisible()).toBe(false);
    expect(requests.filter((u) => u.includes("ImagingStudy"))).toEqual([]);
    await page.getByLabel("Bearer token").fill("wrong");
    await page.getByLabel("Bearer token").press("Enter");
    await page.getByLabel("Patient identifier").fill("SYN-0");
    await page.getByLabel("Patient identifier").press("Enter");
    await expect.poll(() => page.locator("#token-note").textContent()).toContain("did not accept the token");
    await page.getByLabel("Bearer token").fill("s3cret-token");
    await page.getByLabel("Bearer token").press("Enter");
    await page.getByLabel("Patient identifier").press("Enter");
    await expect.poll(() => rows(page).count()).toBe(20);
    expect(await page.evaluate(() => sessionStorage.getItem("dcm2fhir.token"))).toBe("s3cret-token");
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
    await context.close();
  });
});
