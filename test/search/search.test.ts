// The search module and the index, without HTTP: date ranges, the parser's limits and escapes, `ap`, the index
// file (deterministic, hidden, staged with convert's outputs, refusing to be used when stale) and db.ts's modes.
import { readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { beforeAll, describe, expect, it } from "vitest";
import { EXPECTED_OPTIONS } from "../../scripts/make-fixtures.js";
import { convert } from "../../src/convert.js";
import { dateRange } from "../../src/fhir/dateRange.js";
import { type SearchError, type SearchRequest, isSearchError, pairsFromJson, pairsFromQuery, parseSearch } from "../../src/search/request.js";
import { runSearch } from "../../src/search/search.js";
import { openDatabase } from "../../src/lib/sqlite.js";
import { INDEX_FORMAT, IndexError, SearchIndex, StaleLineError, buildSearchIndex, updateSearchIndex } from "../../src/index/searchIndex.js";
import { SEARCH_INDEX_FILE } from "../../src/core/outputFiles.js";
import { REPO, outputFiles, tempDir } from "../helpers/run.js";
import { PATIENTS, STUDIES, ZONE, handMadeFolder, indexContent, s, uid } from "../helpers/searchData.js";
import { ids } from "../helpers/serve.js";

const utc = (iso: string) => Date.parse(iso);

describe("dateRange: the range a date's precision implies", () => {
  it("year, month, day in the zone; daylight saving time changes the day's length", () => {
    expect(dateRange("2024", "UTC")).toEqual({ lo: utc("2024-01-01T00:00:00Z"), hi: utc("2025-01-01T00:00:00Z") });
    expect(dateRange("2024-02", "UTC")).toEqual({ lo: utc("2024-02-01T00:00:00Z"), hi: utc("2024-03-01T00:00:00Z") });
    expect(dateRange("2024-12", "Europe/Zurich")).toEqual({ lo: utc("2024-11-30T23:00:00Z"), hi: utc("2024-12-31T23:00:00Z") });
    // 31 March 2024 in Zurich has 23 hours; 27 October 2024 has 25.
    expect(dateRange("2024-03-31", ZONE)).toEqual({ lo: utc("2024-03-30T23:00:00Z"), hi: utc("2024-03-31T22:00:00Z") });
    expect(dateRange("2024-10-27", ZONE)).toEqual({ lo: utc("2024-10-26T22:00:00Z"), hi: utc("2024-10-27T23:00:00Z") });
  });

  it("times to the minute, second and fraction; with Z, an offset, a space for + (a decoded query), or the zone", () => {
    expect(dateRange("2024-03-15T10:15", ZONE)).toEqual({ lo: utc("2024-03-15T09:15:00Z"), hi: utc("2024-03-15T09:16:00Z") });
    expect(dateRange("2024-03-15T10:15:30+01:00", "UTC")).toEqual({ lo: utc("2024-03-15T09:15:30Z"), hi: utc("2024-03-15T09:15:31Z") });
    expect(dateRange("2024-03-15T10:15:30 01:00", "UTC")).toEqual(dateRange("2024-03-15T10:15:30+01:00", "UTC"));
    expect(dateRange("2024-03-15T10:15:30.25-05:00", "UTC")).toEqual({ lo: utc("2024-03-15T15:15:30.250Z"), hi: utc("2024-03-15T15:15:30.260Z") });
    expect(dateRange("2024-03-15T10:15:30.123456Z", "UTC")).toEqual({ lo: utc("2024-03-15T10:15:30.123Z"), hi: utc("2024-03-15T10:15:30.124Z") });
    // A leap second (R4 time allows :60) is the first second of the next minute.
    expect(dateRange("2016-12-31T23:59:60Z", "UTC")).toEqual({ lo: utc("2017-01-01T00:00:00Z"), hi: utc("2017-01-01T00:00:01Z") });
    expect(new Date(dateRange("0099-01-01", "UTC")!.lo).getUTCFullYear()).toBe(99);
  });

  it("nothing for what is not a date", () => {
    for (const text of [
      "2020-13",
      "2024-02-30",
      "2023-02-29",
      "2024-00-10",
      "24-03-15",
      "2024-3-15",
      "2024-03-15T24:00",
      "2024-03-15T10:61",
      "2024-03-15T10:15:30+15:00",
      "2024-03-15T10",
      "2024-03-15 10:15",
      "yesterday",
      "",
    ]) {
      expect(dateRange(text, ZONE), text).toBeUndefined();
    }
    expect(dateRange("2024-02-29", ZONE)).toBeDefined();
  });
});

describe("parseSearch", () => {
  const parse = (query: string, options: Partial<Parameters<typeof parseSearch>[1]> = {}) => {
    const pairs = pairsFromQuery(query);
    return isSearchError(pairs) ? pairs : parseSearch(pairs, { zone: ZONE, allowOpenSearch: true, ...options });
  };
  const request = (query: string, options = {}) => parse(query, options) as SearchRequest;
  const error = (query: string, options = {}) => parse(query, options) as SearchError;

  it("ap widens the range by 10 % of its distance to now on each side", () => {
    const now = utc("2034-03-15T12:00:00Z");
    const filter = request("started=ap2024-03-15", { now }).filters[0]!;
    const day = dateRange("2024-03-15", ZONE)!;
    const gap = now - (day.lo + day.hi) / 2;
    expect(filter).toEqual({
      kind: "date",
      parameter: "started",
      values: [{ prefix: "ap", range: { lo: Math.floor(day.lo - gap / 10), hi: Math.ceil(day.hi + gap / 10) } }],
    });
  });

  it("escapes: \\, \\| \\\\ in token values (R4 search.html#escaping); the Study Instance UID bare or as urn:oid", () => {
    expect(request("identifier=a\\,b\\|c\\\\d,x|y").filters[0]).toMatchObject({ values: [{ code: "a,b|c\\d" }, { system: "x", code: "y" }] });
    expect(request("identifier=urn:dicom:uid|1.2.3").filters[0]).toMatchObject({ values: [{ system: "urn:dicom:uid", code: "urn:oid:1.2.3" }] });
    expect(request("identifier=urn:dicom:uid|urn:oid:1.2.3").filters[0]).toMatchObject({ values: [{ system: "urn:dicom:uid", code: "urn:oid:1.2.3" }] });
    // Only the identifier parameter's Study Instance UID system is rewritten.
    expect(request("instance=urn:dicom:uid|1.2.3").filters[0]).toMatchObject({ values: [{ system: "urn:dicom:uid", code: "1.2.3" }] });
  });

  it("the JSON body: each array element one repetition; anything else an error naming the parameter", () => {
    expect(pairsFromJson({ patient: ["Patient/a"], modality: ["CT", "MR"] })).toEqual([
      ["patient", "Patient/a"],
      ["modality", "CT"],
      ["modality", "MR"],
    ]);
    expect(pairsFromJson({ patient: "Patient/a" })).toMatchObject({ error: "invalid-body", parameter: "patient" });
    expect(pairsFromJson({ patient: [null] })).toMatchObject({ error: "invalid-body", parameter: "patient" });
    expect(pairsFromJson([["patient", "a"]])).toMatchObject({ error: "invalid-body" });
    expect(pairsFromJson(null)).toMatchObject({ error: "invalid-body" });
  });

  it("query strings: + is a space, %XX a byte, the bytes UTF-8; a name without = has an empty value", () => {
    expect(pairsFromQuery("a=b+c&d=%C3%BC&e&&f=%2B")).toEqual([
      ["a", "b c"],
      ["d", "ü"],
      ["e", ""],
      ["f", "+"],
    ]);
    expect(pairsFromQuery(Buffer.from("name=J%C3%BCrgen&x=%E0%80%80"))).toMatchObject({ error: "invalid-encoding" });
    expect(pairsFromQuery("a=%zz")).toEqual([["a", "%zz"]]);
    // A string is text; bytes are what was received.
    expect(pairsFromQuery("name=Jürgen")).toEqual([["name", "Jürgen"]]);
    expect(pairsFromQuery(Buffer.from("name=Jürgen", "utf8"))).toEqual([["name", "Jürgen"]]);
    expect(pairsFromQuery(Buffer.from("name=Jürgen", "latin1"))).toMatchObject({ error: "invalid-encoding" });
  });

  it("limits: pairs, filters, alternatives; _count capped", () => {
    expect(error(Array(1001).fill("x=1").join("&"))).toMatchObject({ error: "too-many" });
    expect(error(Array(65).fill("status=available").join("&"))).toMatchObject({ error: "too-many" });
    expect(error(`identifier=${Array(1001).fill("a").join(",")}`)).toMatchObject({ error: "too-many", parameter: "identifier" });
    expect(error(`started=${Array(65).fill("2024").join(",")}`)).toMatchObject({ error: "too-many", parameter: "started" });
    expect(request("_count=1000").count).toBe(1000);
    expect(request("_count=1001")).toMatchObject({ count: 1000, warnings: ["_count=1001 was capped at 1000"] });
    expect(request("").count).toBe(50);
  });

  it("the seed's rule counts patient, patient.identifier and identifier with a value to match, and nothing else", () => {
    const seeded = { allowOpenSearch: false };
    for (const query of ["patient=a", "patient=a,b", "patient.identifier=x", "identifier=x", "identifier=sys|", "modality=CT&identifier=x"]) {
      expect(isSearchError(parse(query, seeded)), query).toBe(false);
    }
    for (const query of ["", "_id=1.2", "modality=CT", "patient:missing=false", "identifier:not=x", "patient.identifier:missing=false", "started=2024"]) {
      expect(error(query, seeded), query).toMatchObject({ error: "scope-required" });
    }
  });

  it("a cursor is tied to its sort and checked, not trusted", () => {
    const forged = Buffer.from(JSON.stringify({ s: "_id", v: [{ $gt: "" }] })).toString("base64url");
    expect(error(`_cursor=${forged}`)).toMatchObject({ error: "invalid-value", parameter: "_cursor" });
    const good = Buffer.from(JSON.stringify({ s: "_id", v: ["1.2.3"] })).toString("base64url");
    expect(request(`_cursor=${good}`).after).toEqual(["1.2.3"]);
    expect(error(`_sort=-started&_cursor=${good}`)).toMatchObject({ parameter: "_cursor" });
  });
});

describe("the search index", () => {
  let converted: string;
  beforeAll(async () => {
    process.chdir(REPO);
    converted = tempDir();
    await convert({ ...EXPECTED_OPTIONS, out: converted, workers: 1 });
  });

  it("is a hidden file convert stages and commits with the NDJSON, and it is not an output file", async () => {
    expect(readdirSync(converted)).toContain(SEARCH_INDEX_FILE);
    expect(Object.keys(outputFiles(converted))).not.toContain(SEARCH_INDEX_FILE);
    const index = SearchIndex.open(converted);
    expect(index.meta).toMatchObject({ zone: EXPECTED_OPTIONS.timezone, studies: 14, patients: 13, endpoints: 1 });
    index.close();
  });

  it("is byte-identical for the same input, from convert or from the same NDJSON", async () => {
    const again = tempDir();
    await convert({ ...EXPECTED_OPTIONS, out: again, workers: 1 });
    const first = readFileSync(join(converted, SEARCH_INDEX_FILE));
    expect(readFileSync(join(again, SEARCH_INDEX_FILE)).equals(first)).toBe(true);
    const rebuilt = join(tempDir(), "index.sqlite");
    buildSearchIndex(converted, rebuilt, EXPECTED_OPTIONS.timezone!);
    expect(readFileSync(rebuilt).equals(first)).toBe(true);
  });

  it("updated from the committed one (an incremental run's), it holds what a new build of the same NDJSON holds", () => {
    const before = handMadeFolder();
    const after = handMadeFolder({ index: false });
    // s3 goes, s4 changes, a new study s10 of p3 comes, and p3 gains an identifier (which its kept studies' rows say).
    const changed = STUDIES.filter((st) => st.id !== uid(3)).map((st) => (st.id === uid(4) ? { ...st, status: "cancelled" } : st));
    const added = { ...STUDIES[0]!, id: uid(10), identifier: [{ system: "urn:dicom:uid", value: `urn:oid:${uid(10)}` }], subject: { reference: "Patient/p3" } };
    added.series = (added.series ?? []).map((se) => ({
      ...se,
      uid: `${uid(10)}.${se.number}`,
      instance: se.instance.map((i, k) => ({ ...i, uid: `${uid(10)}.${se.number}.${k + 1}` })),
    }));
    const patients = PATIENTS.map((p) => (p.id === "p3" ? { ...p, identifier: [{ value: "MRN-3" }] } : p));
    const lines = (resources: readonly object[]) => resources.map((r) => `${JSON.stringify(r)}\n`).join("");
    writeFileSync(join(after, "ImagingStudy.ndjson"), lines([...changed, added]));
    writeFileSync(join(after, "Patient.ndjson"), lines(patients));
    const kept = new Set(changed.filter((st) => st.id !== uid(4)).map((st) => st.id));

    const updated = updateSearchIndex(before, after, join(after, SEARCH_INDEX_FILE), ZONE, kept);
    expect(updated).toMatchObject({ studies: STUDIES.length, patients: 3, endpoints: 1, skipped: [] });
    const fresh = join(tempDir(), "fresh.sqlite");
    buildSearchIndex(after, fresh, ZONE);
    expect(indexContent(join(after, SEARCH_INDEX_FILE))).toEqual(indexContent(fresh));
    const index = SearchIndex.open(after);
    const found = (query: string) =>
      ids(JSON.parse((runSearch(index, pairsFromQuery(query), { base: "http://x/", allowOpenSearch: true }) as Buffer).toString()));
    const ofP3 = changed.filter((st) => st.subject?.reference === "Patient/p3").map((st) => st.id);
    expect(ofP3.length).toBeGreaterThan(0);
    expect(found("patient.identifier=MRN-3").sort()).toEqual([...ofP3, uid(10)].sort());
    expect(found("patient.identifier:missing=true")).not.toEqual(expect.arrayContaining(ofP3));
    expect(found(`instance=${uid(10)}.1.1`)).toEqual([uid(10)]);
    expect(found(`instance=${uid(3)}.1.1`)).toEqual([]);
    expect(found("status=cancelled")).toEqual([uid(4)]);
    index.close();
  });

  it("is built anew when the committed one cannot be updated: in another zone, a kept line it does not hold, written into by serve --pacs, missing", () => {
    const before = handMadeFolder();
    const after = handMadeFolder({ index: false });
    const target = join(after, SEARCH_INDEX_FILE);
    expect(updateSearchIndex(before, after, target, "America/New_York", new Set(s(1)))).toBeUndefined();
    expect(updateSearchIndex(before, after, target, ZONE, new Set([...s(1), "not-indexed"]))).toBeUndefined();
    // One that serve --pacs wrote into holds what a PACS answered, which a new build would not.
    const pacs = openDatabase(join(before, SEARCH_INDEX_FILE), "build");
    pacs.exec("CREATE TABLE ondemand_answer (key TEXT PRIMARY KEY)");
    pacs.close();
    expect(updateSearchIndex(before, after, target, ZONE, new Set(s(1)))).toBeUndefined();
    rmSync(join(before, SEARCH_INDEX_FILE));
    expect(updateSearchIndex(before, after, target, ZONE, new Set(s(1)))).toBeUndefined();
  });

  it("is built anew when a study it would take out has a line its fingerprint missed being edited", () => {
    // Large enough that the fingerprint samples blocks of the file rather than all of it.
    const before = handMadeFolder({ index: false });
    const studies = STUDIES.map((st) => ({ ...st, description: "x".repeat(100_000) }));
    const text = studies.map((st) => `${JSON.stringify(st)}\n`).join("");
    const size = Buffer.byteLength(text);
    const sampled = (at: number) =>
      Array.from({ length: 64 }, (_, i) => Math.floor(((size - 4096) * i) / 63)).some((start) => at >= start && at < start + 4096);
    // A byte of s3's description that no sampled block covers, made a quote: its line is no longer JSON.
    const s3 = text.indexOf(`"id":"${uid(3)}"`);
    let at = text.indexOf("xxxx", s3);
    while (sampled(at)) at++;
    writeFileSync(join(before, "ImagingStudy.ndjson"), text);
    buildSearchIndex(before, join(before, SEARCH_INDEX_FILE), ZONE);
    writeFileSync(join(before, "ImagingStudy.ndjson"), `${text.slice(0, at)}"${text.slice(at + 1)}`);
    expect(SearchIndex.open(before).close()).toBeUndefined();

    const after = handMadeFolder({ index: false });
    writeFileSync(
      join(after, "ImagingStudy.ndjson"),
      studies
        .filter((st) => st.id !== uid(3))
        .map((st) => `${JSON.stringify(st)}\n`)
        .join(""),
    );
    const kept = new Set(studies.filter((st) => st.id !== uid(3)).map((st) => st.id));
    expect(updateSearchIndex(before, after, join(after, SEARCH_INDEX_FILE), ZONE, kept)).toBeUndefined();
  });

  it("a later convert into the same folder replaces it, so it always matches the NDJSON", async () => {
    const out = tempDir();
    await convert({ ...EXPECTED_OPTIONS, out, workers: 1 });
    await convert({ ...EXPECTED_OPTIONS, inputs: [join(REPO, "fixtures/dicom/charsets")], out, workers: 1 });
    const index = SearchIndex.open(out);
    const studies = readFileSync(join(out, "ImagingStudy.ndjson"), "utf8").trimEnd().split("\n").length;
    expect(index.meta.studies).toBe(studies);
    index.close();
  });

  it("serves each resource as its exact NDJSON bytes, and takes fewer listed instances than numberOfInstances", () => {
    const folder = handMadeFolder();
    const index = SearchIndex.open(folder);
    const lines = readFileSync(join(folder, "ImagingStudy.ndjson")).toString("utf8").trimEnd().split("\n");
    const sixth = JSON.parse(lines[5]!);
    expect(sixth.numberOfInstances).toBe(10);
    expect(sixth.series[0].instance).toHaveLength(1);
    expect(index.read("ImagingStudy", sixth.id)!.toString("utf8")).toBe(lines[5]);
    const bundle = runSearch(index, pairsFromQuery(`instance=${sixth.series[0].instance[0].uid}`), { base: "http://x/", allowOpenSearch: true }) as Buffer;
    expect(ids(JSON.parse(bundle.toString()))).toEqual(s(6));
    index.close();
  });

  it("reads lines of any length, CRLF line ends, blank lines and a last line without a line end", () => {
    const folder = handMadeFolder({ index: false });
    const lines = readFileSync(join(folder, "ImagingStudy.ndjson"), "utf8").trimEnd().split("\n");
    // A 3 MB line spans chunks of the reader; every line ends in CRLF but the last, which has no end at all.
    const long = JSON.stringify({ ...JSON.parse(lines[2]!), description: "x".repeat(3 << 20) });
    writeFileSync(join(folder, "ImagingStudy.ndjson"), [lines[0], lines[1], "", long, ...lines.slice(3)].join("\r\n"));
    const summary = buildSearchIndex(folder, join(folder, SEARCH_INDEX_FILE), ZONE);
    expect(summary).toMatchObject({ studies: 9, skipped: [] });
    const index = SearchIndex.open(folder);
    expect(index.read("ImagingStudy", JSON.parse(long).id)!.toString()).toBe(long);
    expect(index.read("ImagingStudy", JSON.parse(lines[8]!).id)!.toString()).toBe(lines[8]);
    expect(index.read("ImagingStudy", JSON.parse(lines[0]!).id)!.toString()).toBe(lines[0]);
    index.close();
  });

  it("is the same whether its NDJSON is parsed on a thread of its own (a large folder's) or on the building one", () => {
    const folder = handMadeFolder({ index: false });
    const lines = readFileSync(join(folder, "ImagingStudy.ndjson"), "utf8").trimEnd().split("\n");
    // A 5 MB study makes more than one batch of records; a line that is not JSON is skipped by both.
    const long = JSON.stringify({ ...JSON.parse(lines[4]!), id: "long", description: "x".repeat(5 << 20) });
    writeFileSync(join(folder, "ImagingStudy.ndjson"), `${[...lines.slice(0, 3), "{not json", long, ...lines.slice(3)].join("\n")}\n`);
    const here = buildSearchIndex(folder, join(folder, "here.sqlite"), ZONE, { thread: false });
    const there = buildSearchIndex(folder, join(folder, "there.sqlite"), ZONE, { thread: true });
    expect(here).toMatchObject({
      studies: lines.length + 1,
      patients: 3,
      endpoints: 1,
      skipped: [{ file: "ImagingStudy.ndjson", line: 4, problem: "not-json" }],
    });
    expect(there).toEqual(here);
    expect(readFileSync(join(folder, "there.sqlite")).equals(readFileSync(join(folder, "here.sqlite")))).toBe(true);
  });

  it("refuses an index of another format, or a file that is not one", () => {
    const folder = handMadeFolder();
    const db = new Database(join(folder, SEARCH_INDEX_FILE));
    db.prepare("UPDATE meta SET value = ? WHERE key = 'format'").run(`${INDEX_FORMAT}0`);
    db.close();
    expect(() => SearchIndex.open(folder)).toThrow(expect.objectContaining({ reason: "index-format" }));
    writeFileSync(join(folder, SEARCH_INDEX_FILE), "not a database at all, but long enough to look like a header of one....................................");
    expect(() => SearchIndex.open(folder)).toThrow(IndexError);
    expect(() => SearchIndex.open(folder)).toThrow(expect.objectContaining({ reason: "not-an-index" }));
  });

  it("notices a changed, added or removed NDJSON file", () => {
    const changed = handMadeFolder();
    writeFileSync(join(changed, "Patient.ndjson"), readFileSync(join(changed, "Patient.ndjson"), "utf8").replace("MRN-2", "MRN-3"));
    expect(() => SearchIndex.open(changed)).toThrow(expect.objectContaining({ reason: "stale-index" }));
    const removed = handMadeFolder();
    writeFileSync(join(removed, "Endpoint.ndjson"), "");
    expect(() => SearchIndex.open(removed)).toThrow(expect.objectContaining({ reason: "stale-index" }));
    const added = handMadeFolder({ index: false });
    const endpoints = readFileSync(join(added, "Endpoint.ndjson"));
    rmSync(join(added, "Endpoint.ndjson"));
    buildSearchIndex(added, join(added, SEARCH_INDEX_FILE), ZONE);
    expect(() => SearchIndex.open(added).close()).not.toThrow();
    writeFileSync(join(added, "Endpoint.ndjson"), endpoints);
    expect(() => SearchIndex.open(added)).toThrow(expect.objectContaining({ reason: "stale-index" }));
  });
});

describe("study lines read from the NDJSON the index was opened with", () => {
  it("keeps no study line in the index: a search reads each from ImagingStudy.ndjson", () => {
    const folder = handMadeFolder();
    const db = new Database(join(folder, SEARCH_INDEX_FILE), { readonly: true });
    expect(db.prepare("SELECT count(*) AS n FROM study_resource").get()).toEqual({ n: 0 });
    expect(db.prepare("SELECT count(*) AS n FROM study WHERE line_at IS NULL").get()).toEqual({ n: 0 });
    db.close();
  });

  it("lines near each other are read together, far ones alone: every entry is its line, in the page's order", () => {
    const folder = handMadeFolder({ index: false });
    const path = join(folder, "ImagingStudy.ndjson");
    const lines = readFileSync(path, "utf8").trimEnd().split("\n");
    // A study far from the others (past the distance lines are read together at), and one longer than a span.
    const far = JSON.stringify({ ...JSON.parse(lines[1]!), description: "x".repeat(8000) });
    const huge = JSON.stringify({ ...JSON.parse(lines[2]!), description: "y".repeat(300 << 10) });
    writeFileSync(path, `${[lines[0], far, huge, ...lines.slice(3)].join("\n")}\n`);
    buildSearchIndex(folder, join(folder, SEARCH_INDEX_FILE), ZONE);
    const index = SearchIndex.open(folder);
    const bundle = JSON.parse((runSearch(index, pairsFromQuery("_count=100&_sort=-_id"), { base: "http://x/", allowOpenSearch: true }) as Buffer).toString());
    const expected = [lines[0]!, far, huge, ...lines.slice(3)].map((line) => JSON.parse(line)).sort((a, b) => (a.id < b.id ? 1 : -1));
    expect(bundle.entry.map((e: { resource: unknown }) => e.resource)).toEqual(expected);
    index.close();
  });

  it("a file renamed over the NDJSON (a later convert's commit) leaves an open index reading the one it was made from", () => {
    const folder = handMadeFolder();
    const index = SearchIndex.open(folder);
    const path = join(folder, "ImagingStudy.ndjson");
    const lines = readFileSync(path, "utf8").trimEnd().split("\n");
    writeFileSync(`${path}.new`, "{}\n".repeat(lines.length));
    renameSync(`${path}.new`, path);
    expect(index.read("ImagingStudy", JSON.parse(lines[3]!).id)!.toString()).toBe(lines[3]);
    const bundle = JSON.parse(
      (runSearch(index, pairsFromQuery(`_id=${JSON.parse(lines[3]!).id}`), { base: "http://x/", allowOpenSearch: true }) as Buffer).toString(),
    );
    expect(bundle.entry[0].resource).toEqual(JSON.parse(lines[3]!));
    index.close();
  });

  it("a line that no longer looks like a JSON object (the NDJSON edited in place under a server) is an error, not served", () => {
    const folder = handMadeFolder();
    const index = SearchIndex.open(folder);
    const path = join(folder, "ImagingStudy.ndjson");
    const text = readFileSync(path, "utf8");
    const id = JSON.parse(text.split("\n")[3]!).id as string;
    // The same size, shifted by one byte: every line boundary moves.
    writeFileSync(path, `x${text.slice(0, -1)}`, { flag: "r+" });
    expect(() => index.read("ImagingStudy", id)).toThrow(StaleLineError);
    expect(() => runSearch(index, pairsFromQuery("_count=100"), { base: "http://x/", allowOpenSearch: true })).toThrow(StaleLineError);
    expect(() => runSearch(index, pairsFromQuery(`_id=${id}`), { base: "http://x/", allowOpenSearch: true })).toThrow(
      /changed while it was being served: run dcm2fhir index/,
    );
    index.close();
  });
});

describe("db.ts", () => {
  it("read mode writes nothing beside the file and refuses writes", () => {
    const dir = tempDir();
    const build = openDatabase(join(dir, "a.sqlite"), "build");
    build.exec("CREATE TABLE t (x INTEGER)");
    build.prepare("INSERT INTO t VALUES (1)").run();
    build.close();
    expect(readdirSync(dir)).toEqual(["a.sqlite"]);
    const read = openDatabase(join(dir, "a.sqlite"), "read");
    expect(read.prepare("SELECT x FROM t").get()).toEqual({ x: 1 });
    expect(() => read.prepare("INSERT INTO t VALUES (2)").run()).toThrow();
    expect(readdirSync(dir)).toEqual(["a.sqlite"]);
    read.close();
    expect(() => openDatabase(join(dir, "missing.sqlite"), "read")).toThrow();
  });
});
