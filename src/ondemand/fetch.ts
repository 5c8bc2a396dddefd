// Asking one PACS: a QIDO-RS query by one narrow key, and a study's WADO-RS metadata read exactly as `convert` reads
// it (source/dicomweb.ts: the same requests, the same records, the same retries, timeouts and breaker).
import { createHash } from "node:crypto";
import type { LimitFunction } from "p-limit";
import type { InstanceRecord } from "../core/record.js";
import type { FileFailure } from "../core/reasons.js";
import { BadDicomJson, dicomJsonString } from "../dicom/dicomJson.js";
import * as T from "../dicom/tags.js";
import { fhirString } from "../fhir/datatypes.js";
import type { Endpoint } from "../fhir/types.js";
import { type DicomWebPlan, type DicomWebRoot, DicomWebService } from "../source/dicomweb.js";
import type { InstanceSink } from "../source/sink.js";
import type { QueryKey } from "./keys.js";

/** One `--pacs` root, ready to be asked. */
export interface Pacs {
  readonly root: DicomWebRoot;
  /** Its own plan: its root is the Endpoint its studies reference, as `convert <root>` writes it. */
  readonly plan: DicomWebPlan;
  readonly endpoint: Endpoint;
  /** Metadata reads in flight at this PACS, whichever searches asked for them: `--concurrency` at most. */
  readonly limit: LimitFunction;
}

/** What a PACS listed for a key: each study with a digest of its listing entry. */
export type Listing = { readonly studies: ReadonlyArray<{ readonly uid: string; readonly listing: string }> } | { readonly failure: FileFailure };

/** A study read: its instance records, or why it could not be read as a whole. */
export type StudyRead = { readonly records: readonly InstanceRecord[] } | { readonly failure: FileFailure };

/** The attribute of a listing entry that the key matched on: what the PACS may have matched loosely. */
const MATCHED_TAG = { PatientID: T.PatientID, AccessionNumber: T.AccessionNumber, StudyInstanceUID: undefined } as const;

/**
 * Lists the studies `pacs` holds for `key`. A PACS that matches more loosely than a FHIR token (Orthanc compares
 * PatientID without regard to case) lists studies the search cannot match: those whose entry shows another value are
 * left out here, so that they are not read for nothing. The index still decides what matches.
 */
export async function listStudies(pacs: Pacs, key: QueryKey): Promise<Listing> {
  const service = new DicomWebService(pacs.root, pacs.plan, undefined);
  const studies: Array<{ uid: string; listing: string }> = [];
  const tag = MATCHED_TAG[key.attribute];
  for await (const item of service.listStudies({ [key.attribute]: key.value })) {
    if (!("uid" in item)) continue;
    if (tag !== undefined && !sameValue(item.entry, tag, key.value)) continue;
    studies.push({ uid: item.uid, listing: createHash("sha256").update(JSON.stringify(item.entry)).digest("base64url").slice(0, 22) });
  }
  return service.listingStopped ? { failure: service.listingStopped } : { studies };
}

/** The entry's value of `tag` is the searched one, as the index holds it; an entry without it may still match. */
function sameValue(entry: unknown, tag: number, value: string): boolean {
  try {
    const listed = dicomJsonString(entry, tag);
    return listed === undefined || fhirString(listed) === value;
  } catch (error) {
    if (error instanceof BadDicomJson) return true;
    throw error;
  }
}

/** Reads one study's metadata into instance records, as `convert` reads it. */
export async function readStudy(pacs: Pacs, uid: string): Promise<StudyRead> {
  const service = new DicomWebService(pacs.root, pacs.plan, undefined);
  const records: InstanceRecord[] = [];
  let failure: FileFailure | undefined;
  const sink: InstanceSink = {
    seen: () => {},
    unread: (f) => (failure = f),
    // An instance of the study that is not usable (convert lists it in errors.ndjson) leaves the others as they are.
    read: (read) => {
      if (!("failure" in read)) records.push(read);
    },
  };
  const read = await pacs.limit(() => service.readStudy(uid, sink));
  if (read !== true || failure) return { failure: failure ?? { path: `${pacs.root.shown}/studies/${uid}`, reason: "unreachable", message: "not read" } };
  return { records };
}
