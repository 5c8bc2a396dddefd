// A DICOMweb service as a source of instance records: QIDO-RS lists the studies (PS3.18 10.6), WADO-RS reads each
// one's metadata (PS3.18 10.4, DICOM JSON), and every instance of it becomes the record a file would
// (dicom/dicomJson.ts), delivered into the same sink. Headers only: pixel data, frames, rendered and bulk data
// are never requested. Every request goes through send() (timeouts, retries, backoff, Retry-After).
import pLimit from "p-limit";
import type { ResolvedInput } from "../crawl/inputs.js";
import { UsageError } from "../core/errors.js";
import { BadDicomJson, dicomJsonString, readDicomJsonInstance } from "../dicom/dicomJson.js";
import * as T from "../dicom/tags.js";
import { parseDate, parseUID } from "../dicom/values.js";
import type { HeaderRead } from "../core/record.js";
import { toHeaderRead } from "../dicom/instance.js";
import { FailureStreak } from "../lib/retry.js";
import { DEFAULT_POLICY, HttpFailure, type HttpFailureReason, type SendPolicy, type SendResponse, send } from "../lib/http.js";
import type { FileFailure, Reason } from "../core/reasons.js";
import type { InstanceSink, StudyCounts } from "./sink.js";

/** What `convert` takes for its DICOMweb inputs (the CLI's --concurrency, --studies-since/-until, token). */
export interface DicomWebSettings {
  /** Studies read at once (default 4). */
  readonly concurrency?: number;
  /** Only studies whose Study Date (0008,0020) is on or after / on or before this day, YYYY-MM-DD. */
  readonly studiesSince?: string;
  readonly studiesUntil?: string;
  /** Sent as `Authorization: Bearer`; the CLI takes it from DCM2FHIR_TOKEN or --token-file. */
  readonly token?: string;
  /** Timeouts and retries of every request (default: send()'s DEFAULT_POLICY). */
  readonly http?: Partial<Omit<SendPolicy, "signal">>;
  /** Studies asked for per QIDO-RS page (default 1000). */
  readonly pageSize?: number;
}

/** A service root as requested (credentials kept, send() turns them into Basic auth) and as shown (without them). */
export interface DicomWebRoot {
  readonly request: string;
  readonly shown: string;
}

/** The DICOMweb inputs of a run, checked: what readDicomWeb needs for each, and the Endpoint they imply. */
export interface DicomWebPlan {
  readonly roots: readonly DicomWebRoot[];
  /** The service root, when there is exactly one DICOMweb input: the Endpoint written unless --endpoint says otherwise. */
  readonly endpoint: string | undefined;
  readonly concurrency: number;
  readonly studyDate: string | undefined;
  readonly token: string | undefined;
  readonly policy: SendPolicy;
  readonly pageSize: number;
}

const DEFAULT_CONCURRENCY = 4;
const DEFAULT_PAGE_SIZE = 1000;
const ACCEPT = "application/dicom+json, application/json;q=0.9";

/** Checks the DICOMweb inputs and settings; bad usage throws UsageError. */
export function planDicomWeb(inputs: readonly ResolvedInput[], settings: DicomWebSettings = {}, endpointOption?: string): DicomWebPlan {
  const roots = inputs.flatMap((input) => (input.kind === "dicomweb" ? [dicomWebRoot(input.url)] : []));
  const concurrency = settings.concurrency ?? DEFAULT_CONCURRENCY;
  if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new UsageError("--concurrency takes a whole number of studies from 1 up");
  const pageSize = settings.pageSize ?? DEFAULT_PAGE_SIZE;
  if (!(Number.isInteger(pageSize) && pageSize >= 1)) throw new UsageError("the QIDO-RS page size must be a whole number from 1 up");
  const since = settings.studiesSince === undefined ? undefined : dicomDate(settings.studiesSince, "--studies-since");
  const until = settings.studiesUntil === undefined ? undefined : dicomDate(settings.studiesUntil, "--studies-until");
  if (since && until && since > until) throw new UsageError("--studies-since is after --studies-until: no study can match");
  if ((since || until) && roots.length === 0)
    throw new UsageError("--studies-since and --studies-until narrow DICOMweb inputs; none was given (an input that starts with http:// or https://)");
  const token = settings.token?.trim() || undefined;
  if (token !== undefined && !/^[\x21-\x7e]+$/.test(token)) throw new UsageError("the bearer token holds spaces or characters a header cannot carry");
  if (token !== undefined && roots.some((r) => r.request !== r.shown)) {
    throw new UsageError("a bearer token and a user name in the URL: use one way to authenticate");
  }
  if (roots.length > 1 && endpointOption === undefined) {
    throw new UsageError("several DICOMweb inputs: pass --endpoint to say which service the ImagingStudies reference");
  }
  return {
    roots,
    endpoint: roots.length === 1 ? roots[0]!.shown : undefined,
    concurrency,
    studyDate: since || until ? `${since ?? ""}-${until ?? ""}` : undefined,
    token,
    policy: { ...DEFAULT_POLICY, ...settings.http },
    pageSize,
  };
}

/** A service root as typed, checked; the shown form drops `user:password@` and nothing else. */
export function dicomWebRoot(input: string): DicomWebRoot {
  let url: URL | undefined;
  try {
    url = new URL(input);
  } catch {
    url = undefined;
  }
  if (!url || /\s/.test(input)) throw new UsageError("a DICOMweb input must be an http(s) URL, the service root (e.g. https://pacs.example.org/dicom-web)");
  if (url.search || url.hash)
    throw new UsageError("a DICOMweb service root has no query (?) or fragment (#): name the root, e.g. https://pacs.example.org/dicom-web");
  const shown = input.replace(/^(https?:\/\/)[^/?#]*@/i, "$1");
  return { request: input, shown };
}

function dicomDate(value: string, option: string): string {
  const date = /^\d{4}-\d{2}-\d{2}$/.test(value) ? parseDate(value.replace(/-/g, "")) : undefined;
  if (date === undefined) throw new UsageError(`${option} takes a day as YYYY-MM-DD, e.g. 2024-01-31`);
  return value.replace(/-/g, "");
}

/**
 * Lists the studies of one service and reads each one's metadata, `plan.concurrency` at a time, delivering its
 * instances into `sink` only once the whole study is read: a study that cannot be read completely is one failure
 * (path: its URL), never part of one. Returns how many studies were listed, read and failed. Aborting the signal
 * stops at once; what was in flight is dropped.
 */
export async function readDicomWeb(root: DicomWebRoot, sink: InstanceSink, plan: DicomWebPlan, signal?: AbortSignal): Promise<StudyCounts> {
  const service = new DicomWebService(root, plan, signal);
  const counts = { listed: 0, read: 0, failed: 0 };
  const limit = pLimit(plan.concurrency);
  const inFlight = new Set<Promise<void>>();
  for await (const entry of service.listStudies()) {
    if (!("uid" in entry)) {
      sink.seen();
      sink.unread(entry);
      continue;
    }
    counts.listed++;
    const p = limit(() => service.readStudy(entry.uid, sink)).then((read) => {
      if (read === true) counts.read++;
      else if (read === false) counts.failed++;
    });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
    // The listing stays just ahead of the reading: a page is held, never the whole archive's UIDs.
    while (limit.pendingCount > 0) await Promise.race(inFlight);
    if (signal?.aborted) break;
  }
  await Promise.all(inFlight);
  return counts;
}

/**
 * A PACS that stops answering must end the run in bounded time: once this many studies in a row failed for want
 * of an answer (unreachable, timeout, 429/5xx after every retry), the remaining ones are not requested.
 */
const breakerLimit = (concurrency: number) => Math.max(8, 2 * concurrency);

/** A study as a QIDO-RS listing gives it: its UID, and the listing's entry (DICOM JSON of its study attributes). */
export interface ListedStudy {
  readonly uid: string;
  readonly entry: unknown;
}

/**
 * One service root, asked by one run (convert) or one on-demand query (serve --pacs): make a new one for each, as
 * its breaker, once tripped, stays tripped.
 */
export class DicomWebService {
  private readonly base: string;
  private readonly shownBase: string;
  private readonly policy: SendPolicy;
  private readonly headers: Record<string, string>;
  private readonly failures: FailureStreak;
  private down: { reason: HttpFailureReason; cause: string } | undefined;
  /** Why the last listing stopped before its end (the failure it yielded last), if it did. */
  listingStopped: FileFailure | undefined;

  constructor(
    root: DicomWebRoot,
    private readonly plan: DicomWebPlan,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.base = root.request.replace(/\/+$/, "");
    this.shownBase = root.shown.replace(/\/+$/, "");
    this.policy = { ...plan.policy, signal };
    this.failures = new FailureStreak(breakerLimit(plan.concurrency));
    this.headers = { accept: ACCEPT, ...(plan.token ? { authorization: `Bearer ${plan.token}` } : {}) };
  }

  /**
   * Study Instance UIDs, page by page, each once; a failure ends the listing (path: {root}/studies). A page shorter
   * than asked ends it too, unless the server said it capped the answer (Warning: 299, as dcm4chee-arc and cloud
   * services do): then paging goes on from what was received. `match`: QIDO-RS matching keys (PS3.18 8.3.4), sent
   * as given: the caller makes sure none is a wildcard, a list or empty.
   */
  async *listStudies(match: Readonly<Record<string, string>> = {}): AsyncGenerator<ListedStudy | FileFailure> {
    const path = `${this.shownBase}/studies`;
    const listed = new Set<string>();
    const stopped = (reason: Reason, cause: string): FileFailure =>
      (this.listingStopped = { path, reason, message: `listing stopped after ${listed.size} studies: ${cause}` });
    this.listingStopped = undefined;
    for (let offset = 0; ; ) {
      if (this.down) return yield stopped(this.down.reason, this.downMessage());
      const query = new URLSearchParams({ limit: String(this.plan.pageSize), offset: String(offset) });
      if (this.plan.studyDate) query.set("StudyDate", this.plan.studyDate);
      // %20, never "+", for a space: not every DICOMweb server reads a query as a form.
      const keys = Object.entries(match)
        .map(([name, value]) => `&${name}=${encodeURIComponent(value)}`)
        .join("");
      const answer = await this.get(`${this.base}/studies?${query}${keys}`);
      if (answer === undefined) return;
      if (answer instanceof HttpFailure) return yield stopped(answer.reason, answer.message);
      if (answer.status === 204) return;
      if (answer.status !== 200) return yield stopped("http-error", `GET ${path}: HTTP ${answer.status}${statusHint(answer.status, "listing")}`);
      let page: unknown;
      try {
        page = JSON.parse(answer.body.toString("utf8"));
      } catch (error) {
        return yield stopped("bad-metadata", `GET ${path}: the answer is not JSON (${(error as Error).message})`);
      }
      if (!Array.isArray(page)) return yield stopped("bad-metadata", `GET ${path}: the answer is not a JSON array of studies`);
      let fresh = 0;
      for (const [i, entry] of page.entries()) {
        const uid = studyUID(entry);
        if (uid === undefined) {
          yield { path, reason: "bad-metadata", message: `listing entry ${offset + i + 1} has no usable Study Instance UID (0020,000D)` };
        } else if (!listed.has(uid)) {
          listed.add(uid);
          fresh++;
          yield { uid, entry };
        }
      }
      const capped = /(^|,)\s*299\b/.test(answer.headers.get("warning") ?? "");
      // A server that ignores offset sends the same page again: nothing new means the listing is over.
      if (page.length === 0 || fresh === 0 || (page.length < this.plan.pageSize && !capped)) return;
      offset += page.length;
    }
  }

  /** Reads one study and delivers its instances; true when read, false when failed, undefined when aborted. */
  async readStudy(uid: string, sink: InstanceSink): Promise<boolean | undefined> {
    const studyPath = `${this.shownBase}/studies/${uid}`;
    const fail = (reason: Reason, message: string) => {
      sink.seen();
      sink.unread({ path: studyPath, reason, message });
      return false;
    };
    if (this.signal?.aborted) return undefined;
    if (this.down) return fail(this.down.reason, this.downMessage());
    const answer = await this.get(`${this.base}/studies/${encodeURIComponent(uid)}/metadata`);
    if (answer === undefined) return undefined;
    if (answer instanceof HttpFailure) return fail(answer.reason, answer.message);
    if (answer.status !== 200) return fail("http-error", `GET ${studyPath}/metadata: HTTP ${answer.status}${statusHint(answer.status, "study")}`);
    const reads = instancesOf(uid, studyPath, answer.body);
    if (!Array.isArray(reads)) return fail("bad-metadata", `GET ${studyPath}/metadata: ${reads}`);
    for (const read of reads) {
      sink.seen();
      sink.read(read);
    }
    return true;
  }

  /** A response, a failure after every retry, or undefined when the run was aborted. Counts answers for the breaker. */
  private async get(url: string): Promise<SendResponse | HttpFailure | undefined> {
    try {
      const response = await send(url, { method: "GET", headers: this.headers }, this.policy);
      this.failures.succeeded();
      return response;
    } catch (error) {
      if (this.signal?.aborted) return undefined;
      if (!(error instanceof HttpFailure)) throw error;
      if (this.failures.failed() && !this.down) this.down = { reason: error.reason, cause: error.message };
      return error;
    }
  }

  private downMessage(): string {
    return `not requested: ${this.failures.limit} requests in a row failed after every retry, the last: ${this.down!.cause}`;
  }
}

/** The records of a metadata answer, one per instance, or why the answer is not usable as a whole. */
function instancesOf(studyUID: string, studyPath: string, body: Buffer): HeaderRead[] | string {
  let dataSets: unknown;
  try {
    dataSets = JSON.parse(body.toString("utf8"));
  } catch (error) {
    return `the answer is not JSON (${(error as Error).message})`;
  }
  if (!Array.isArray(dataSets)) return "the answer is not a JSON array of instances";
  if (dataSets.length === 0) return "the answer lists no instances";
  const share = Math.floor(body.length / dataSets.length);
  const reads: HeaderRead[] = [];
  for (const [i, dataSet] of dataSets.entries()) {
    try {
      const inStudy = dicomJsonString(dataSet, T.StudyInstanceUID);
      if (inStudy !== undefined && inStudy !== studyUID) return `instance ${i + 1} belongs to another study`;
      const series = dicomJsonString(dataSet, T.SeriesInstanceUID);
      const sop = dicomJsonString(dataSet, T.SOPInstanceUID);
      // The instance's WADO-RS URL: stable, unique, and free of patient data; the item's place when UIDs are missing.
      const path = series && sop ? `${studyPath}/series/${encodeURIComponent(series)}/instances/${encodeURIComponent(sop)}` : `${studyPath}/metadata#${i + 1}`;
      const bytesRead = i === 0 ? body.length - share * (dataSets.length - 1) : share;
      reads.push(toHeaderRead({ result: readDicomJsonInstance(path, dataSet), bytesRead }));
    } catch (error) {
      if (!(error instanceof BadDicomJson)) throw error;
      return `instance ${i + 1}: ${error.message}`;
    }
  }
  return reads;
}

function studyUID(entry: unknown): string | undefined {
  try {
    const uid = dicomJsonString(entry, T.StudyInstanceUID);
    return uid === undefined ? undefined : parseUID(uid);
  } catch (error) {
    if (error instanceof BadDicomJson) return undefined;
    throw error;
  }
}

function statusHint(status: number, what: "listing" | "study"): string {
  if (status === 401 || status === 403) return " (check the token, or the user name and password in the URL)";
  if (status !== 404) return "";
  // Orthanc answers 404 for a Study Instance UID it holds under two patients (Patient IDs that differ even by a space).
  return what === "listing" ? " (not found: is the URL the DICOMweb service root?)" : " (listed, yet not found: deleted since, or held under two patients)";
}
