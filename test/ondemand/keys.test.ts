// Which PACS queries a search makes (ondemand/keys.ts): narrow keys only, never a wildcard, a list or nothing.
import { describe, expect, it } from "vitest";
import { MAX_KEYS, searchKeys, unsafeValue } from "../../src/ondemand/keys.js";
import { pacsIssues } from "../../src/ondemand/search.js";
import { type SearchRequest, isSearchError, pairsFromQuery, parseSearch } from "../../src/search/request.js";

const request = (query: string): SearchRequest => {
  const pairs = pairsFromQuery(query);
  if (isSearchError(pairs)) throw new Error(pairs.message);
  const parsed = parseSearch(pairs, { zone: "UTC" });
  if (isSearchError(parsed)) throw new Error(parsed.message);
  return parsed;
};
const patients = new Map([
  ["p1", { patientId: "PAT-1" }],
  ["p2", { patientId: undefined }],
  ["p3", { patientId: "PAT*" }],
]);
const keys = (query: string) => searchKeys(request(query), (id) => patients.get(id));

describe("query keys", () => {
  it("asks patient.identifier as PatientID, a Study Instance UID as StudyInstanceUID, other identifiers as AccessionNumber", () => {
    expect(keys("patient.identifier=PAT-1").keys).toEqual([{ attribute: "PatientID", value: "PAT-1" }]);
    expect(keys("patient.identifier=urn:oid:1.2.3|PAT-1").keys).toEqual([{ attribute: "PatientID", value: "PAT-1" }]);
    expect(keys("identifier=urn:dicom:uid|1.2.3").keys).toEqual([{ attribute: "StudyInstanceUID", value: "1.2.3" }]);
    expect(keys("identifier=urn:dicom:uid|urn:oid:1.2.3").keys).toEqual([{ attribute: "StudyInstanceUID", value: "1.2.3" }]);
    expect(keys("identifier=ACC-1").keys).toEqual([{ attribute: "AccessionNumber", value: "ACC-1" }]);
    expect(keys("identifier=urn:oid:9.9|ACC-1").keys).toEqual([{ attribute: "AccessionNumber", value: "ACC-1" }]);
    expect(keys("identifier=urn:oid:1.2.3").keys).toEqual([
      { attribute: "StudyInstanceUID", value: "1.2.3" },
      { attribute: "AccessionNumber", value: "urn:oid:1.2.3" },
    ]);
    expect(keys("patient.identifier=A,B,A").keys.map((k) => k.value)).toEqual(["A", "B"]);
  });

  it("asks by one scoping parameter when several AND: a Study Instance UID before a Patient ID", () => {
    expect(keys("patient.identifier=PAT-1&identifier=urn:dicom:uid|1.2.3&modality=CT").keys).toEqual([{ attribute: "StudyInstanceUID", value: "1.2.3" }]);
    // A parameter whose values can all be asked is preferred to one with a wildcard.
    expect(keys("identifier=ACC*&patient.identifier=PAT-1")).toEqual({ keys: [{ attribute: "PatientID", value: "PAT-1" }], notes: [] });
  });

  it("never sends a wildcard, a backslash, an empty or blank value, a control character, or a system without a code", () => {
    for (const value of ["*", "PAT*", "PAT?", "A\\B", "", "   ", "A\nB"]) expect(unsafeValue(value), JSON.stringify(value)).toBeDefined();
    expect(unsafeValue("PAT-1 ^x")).toBeUndefined();
    for (const query of [
      "patient.identifier=PAT*",
      "patient.identifier=P%3F",
      "patient.identifier=A%5C%5CB",
      "patient.identifier=%20",
      "identifier=urn:dicom:uid|1.2.*",
      "patient.identifier=urn:oid:1.2|",
      "identifier=A%0AB",
    ]) {
      const found = keys(query);
      expect(found.keys, query).toEqual([]);
      expect(found.notes, query).toEqual([expect.objectContaining({ severity: "warning", diagnostics: expect.stringContaining("not sent to the PACS") })]);
    }
    // Only the unsafe alternative is left out.
    expect(keys("patient.identifier=PAT*,PAT-2").keys).toEqual([{ attribute: "PatientID", value: "PAT-2" }]);
  });

  it("asks for a patient= the index knows by its Patient ID; an unknown one, or one without a usable ID, asks nobody", () => {
    expect(keys("patient=Patient/p1").keys).toEqual([{ attribute: "PatientID", value: "PAT-1" }]);
    expect(keys("patient=p9")).toEqual({ keys: [], notes: [expect.objectContaining({ code: "not-found" })] });
    expect(keys("patient=p2").keys).toEqual([]);
    expect(keys("patient=p3").keys).toEqual([]);
    // :not and :missing name no study to ask for.
    expect(keys("patient=p1&patient.identifier:not=PAT-1").keys).toEqual([{ attribute: "PatientID", value: "PAT-1" }]);
    expect(keys("patient.identifier:missing=false&patient=p1").keys).toHaveLength(1);
  });

  it(`asks nothing for more than ${MAX_KEYS} values, and says so`, () => {
    const many = Array.from({ length: MAX_KEYS + 1 }, (_, i) => `P${i}`).join(",");
    expect(keys(`patient.identifier=${many}`)).toEqual({ keys: [], notes: [expect.objectContaining({ code: "too-costly" })] });
    expect(keys(`patient.identifier=${many.split(",").slice(0, MAX_KEYS).join(",")}`).keys).toHaveLength(MAX_KEYS);
  });
});

describe("outcome issues", () => {
  const key = { attribute: "PatientID" as const, value: "PAT-1" };
  it("say when a fallback answer was fetched, name failed studies by UID, and never carry the query value", () => {
    const found = pacsIssues([
      { root: "https://pacs/dicom-web", key, state: "fallback", reason: "unreachable", fetched: Date.UTC(2024, 2, 15, 10, 0, 0), failed: [], rejected: [] },
      { root: "https://pacs2/dicom-web", key, state: "unanswered", reason: "timeout", failed: [], rejected: [] },
      { root: "https://pacs3/dicom-web", key, state: "asked", failed: ["1.2.3"], rejected: ["1.2.4"] },
    ]);
    expect(found.map((i) => [i.severity, i.code])).toEqual([
      ["warning", "transient"],
      ["warning", "transient"],
      ["warning", "incomplete"],
      ["warning", "incomplete"],
    ]);
    expect(found[0]!.diagnostics).toContain("2024-03-15T10:00:00Z");
    expect(found[2]!.diagnostics).toContain("1.2.3");
    for (const issue of found) expect(issue.diagnostics).not.toContain("PAT-1");
  });
});
