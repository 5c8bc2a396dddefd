// Which PACS queries a search needs: its patient.identifier, identifier or patient values as QIDO-RS matching keys
// (PS3.18 8.3.4), each narrow enough to name one patient or one study. A value the PACS would read as more than
// itself (a wildcard, a list, nothing at all) is never sent: `patient.identifier=*` must not list every patient.
import { parseUID } from "../dicom/values.js";
import type { Filter, SearchRequest, TokenValue } from "../search/request.js";
import type { Issue } from "./outcome.js";

/** The QIDO-RS study-level attributes a search is asked by. */
export type KeyAttribute = "PatientID" | "StudyInstanceUID" | "AccessionNumber";

/** One QIDO-RS query: one attribute, one value. */
export interface QueryKey {
  readonly attribute: KeyAttribute;
  readonly value: string;
}

/** The key as the cache knows it (with the root): attribute and value, unambiguous. */
export const keyText = (key: QueryKey): string => `${key.attribute}=${key.value}`;

/** Keys of one search, at most: each is a query to every PACS, and a list of values is an OR of queries. */
export const MAX_KEYS = 20;

const DICOM_UID_SYSTEM = "urn:dicom:uid";
const OID_PREFIX = "urn:oid:";

/** A Patient the index knows, by id: its Patient ID (undefined: it has none). */
export type KnownPatient = (id: string) => { readonly patientId: string | undefined } | undefined;

export interface SearchKeys {
  readonly keys: readonly QueryKey[];
  /** Why some value was not sent to the PACS: said in the answer's OperationOutcome entry. */
  readonly notes: readonly Issue[];
}

/**
 * Why `value` cannot be sent as a PatientID or AccessionNumber, or undefined when it can. QIDO-RS reads `*` and `?`
 * as wildcards and `\` as a separator of values (PS3.18 8.3.4.1, PS3.4 C.2.2.2); an empty value (or one of spaces
 * only, which DICOM pads and trims away) is a universal match; control characters are in no DICOM string.
 */
export function unsafeValue(value: string): "wildcard" | "empty" | "control" | undefined {
  if (/[*?\\]/.test(value)) return "wildcard";
  // No DICOM string value holds one (PS3.5 6.1.2.3); a line break would also cut a key in two.
  if (/[\x00-\x1f\x7f]/.test(value)) return "control";
  if (value.trim() === "") return "empty";
  return undefined;
}

/**
 * The keys of a search. When several scoping parameters are given (they AND), asking by one of them is enough: the
 * answer lies within what any one of them lists. The one chosen is the first, of identifier, patient.identifier and
 * patient, whose every value can be asked; a value that cannot is named in a note and left to the index.
 */
export function searchKeys(request: Pick<SearchRequest, "filters">, knownPatient: KnownPatient): SearchKeys {
  // Written as loops: this runs for every search, most of which the index then answers in tens of microseconds.
  let first: SearchKeys | undefined;
  for (const parameter of SCOPING_ORDER) {
    for (const f of request.filters) {
      if (f.kind !== "token" || f.not || f.parameter !== parameter) continue;
      const found = keysOf(f, knownPatient);
      if (found.notes.length === 0) return unique(found);
      first ??= found;
    }
  }
  return first ? unique(first) : NO_KEYS;
}

const SCOPING_ORDER = ["identifier", "patient.identifier", "patient"] as const;
const NO_KEYS: SearchKeys = { keys: [], notes: [] };

/** Each key once; more than MAX_KEYS asks nothing. */
function unique(found: SearchKeys): SearchKeys {
  if (found.keys.length === 1) return found;
  const byText = new Map(found.keys.map((k) => [keyText(k), k]));
  if (byText.size > MAX_KEYS) {
    return {
      keys: [],
      notes: [
        {
          severity: "warning",
          code: "too-costly",
          diagnostics: `the search names more than ${MAX_KEYS} values to look up: the PACS was not asked, the answer is from this server's index only`,
        },
      ],
    };
  }
  return { keys: [...byText.values()], notes: found.notes };
}

const UNSAFE = {
  wildcard: "holds a DICOM wildcard (* or ?) or a backslash (a list)",
  empty: "is empty once its spaces are trimmed",
  control: "holds a control character",
} as const;

function keysOf(filter: Filter & { kind: "token" }, knownPatient: KnownPatient): SearchKeys {
  const keys: QueryKey[] = [];
  const notes: Issue[] = [];
  const notSent = (why: string) =>
    notes.push({
      severity: "warning",
      code: "not-supported",
      diagnostics: `a value of ${filter.parameter} ${why}: it was not sent to the PACS, and the answer for it is from this server's index only`,
    });
  for (const value of filter.values) {
    if (value.code === undefined) {
      notSent("names a system and no code (any code): the PACS is asked only for one patient or one study");
      continue;
    }
    if (filter.parameter === "patient") {
      const patient = knownPatient(value.code);
      if (patient === undefined) {
        notes.push({
          severity: "warning",
          code: "not-found",
          diagnostics: "the patient searched for is not known to this server, so no PACS was asked: search by patient.identifier to reach the PACS",
        });
      } else if (patient.patientId === undefined) {
        notSent("is a Patient without a Patient ID");
      } else {
        const unsafe = unsafeValue(patient.patientId);
        if (unsafe) notSent(`is a Patient whose Patient ID ${UNSAFE[unsafe]}`);
        else keys.push({ attribute: "PatientID", value: patient.patientId });
      }
      continue;
    }
    const found = filter.parameter === "identifier" ? identifierKeys(value) : [{ attribute: "PatientID" as const, value: value.code }];
    if (typeof found === "string") {
      notSent(found);
      continue;
    }
    for (const key of found) {
      const unsafe = key.attribute === "StudyInstanceUID" ? undefined : unsafeValue(key.value);
      if (unsafe) notSent(UNSAFE[unsafe]);
      else keys.push(key);
    }
  }
  return { keys, notes };
}

/**
 * identifier: a Study Instance UID (system urn:dicom:uid) is asked as StudyInstanceUID, any other value as
 * AccessionNumber. A value without a system that is written as a UID (`urn:oid:1.2.3`) may be either: both are asked.
 */
function identifierKeys(value: TokenValue): QueryKey[] | string {
  const code = value.code!;
  const uid = code.startsWith(OID_PREFIX) ? parseUID(code.slice(OID_PREFIX.length)) : undefined;
  if (value.system === DICOM_UID_SYSTEM)
    return uid ? [{ attribute: "StudyInstanceUID", value: uid }] : "is not a Study Instance UID (urn:dicom:uid|1.2.3, digits and dots)";
  if (value.system === undefined && uid)
    return [
      { attribute: "StudyInstanceUID", value: uid },
      { attribute: "AccessionNumber", value: code },
    ];
  return [{ attribute: "AccessionNumber", value: code }];
}
