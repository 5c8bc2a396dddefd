// The PACS behind `serve --pacs`: before a search is answered from the index, each of its keys is asked of every PACS
// whose answer for it is older than max-age. Concurrent searches needing the same key share one query; the studies
// listed are read (at most once at a time each), mapped and validated as `convert` does, and written into the index
// in one transaction with the answer, which is what a later search within max-age, or during an outage, relies on.
import pLimit from "p-limit";
import { UsageError } from "../core/errors.js";
import type { ZoneRule } from "../fhir/datatypes.js";
import { toEndpoint } from "../fhir/endpoint.js";
import { isTimeZone, systemTimeZone } from "../fhir/timezone.js";
import type { JsonIdentifier } from "../index/parameters.js";
import { patientIdOf } from "../group/patients.js";
import { IndexWriter } from "../index/indexWriter.js";
import type { SearchIndex } from "../index/searchIndex.js";
import { DEFAULT_POLICY, type SendPolicy } from "../lib/http.js";
import { dicomWebRoot, planDicomWeb } from "../source/dicomweb.js";
import { type Validate, assemble, loadValidate, mapAndValidateStudy, patientOf } from "../write/studyResources.js";
import { type Listing, type Pacs, type StudyRead, listStudies, readStudy } from "./fetch.js";
import { type KnownPatient, type QueryKey, keyText } from "./keys.js";
import { type Answer, type FetchedStudy, OnDemandStore } from "./store.js";

export interface PacsOptions {
  /** DICOMweb service roots, in order of preference: a study two of them hold is taken from the first. */
  readonly roots: readonly string[];
  /** Seconds an answer is reused without asking again (default 300). */
  readonly maxAge?: number;
  /** Sent to every PACS as `Authorization: Bearer`; or give user:password in a root's URL. */
  readonly token?: string;
  /** IANA zone for times without an offset (default: this machine's zone, as `convert`). */
  readonly timezone?: string;
  /** Metadata reads in flight per PACS (default 4, as `convert`). */
  readonly concurrency?: number;
  /** Timeouts and retries of every request (default: ON_DEMAND_POLICY). */
  readonly http?: Partial<Omit<SendPolicy, "signal">>;
}

export const DEFAULT_MAX_AGE = 300;

/**
 * `convert`'s politeness (send(): timeouts, retries with backoff and jitter, Retry-After), with an interactive
 * search's patience: a clinician waits seconds, not the minutes a nightly run may give a PACS that is down.
 */
export const ON_DEMAND_POLICY: Omit<SendPolicy, "signal"> = { ...DEFAULT_POLICY, timeoutMs: 10_000, attempts: 3, maxDelayMs: 2_000, maxRetryAfterMs: 5_000 };

/** How one PACS served one key of a search. */
export interface PacsState {
  /** The root as shown (no credentials). */
  readonly root: string;
  readonly key: QueryKey;
  /** fresh: an answer within max-age; asked: asked now; fallback: could not be asked, an older answer serves; unanswered: neither. */
  readonly state: "fresh" | "asked" | "fallback" | "unanswered";
  /** When the answer used was fetched. */
  readonly fetched?: number;
  /** Why the PACS could not be asked (a reason code). */
  readonly reason?: string;
  /** Studies listed but not read (their metadata failed), and read but not valid: left out. */
  readonly failed: readonly string[];
  readonly rejected: readonly string[];
}

/** For the server's log: counts only. */
export interface PacsCounts {
  /** QIDO-RS queries sent (one per PACS and key asked). */
  queries: number;
  /** Keys answered from an answer within max-age, per PACS. */
  hits: number;
  /** Study metadata read. */
  studies: number;
  /** Queries and study reads that failed after every retry. */
  failures: number;
}

type RootResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

export class OnDemand {
  readonly pacs: readonly Pacs[];
  readonly counts: PacsCounts = { queries: 0, hits: 0, studies: 0, failures: 0 };
  /** Seconds an answer is reused. */
  readonly maxAge: number;
  private readonly maxAgeMs: number;
  private readonly zoneRule: ZoneRule;
  /** The zone PACS times without an offset are read in. */
  get zone(): string {
    return this.zoneRule.zone;
  }
  private readonly store: OnDemandStore;
  private readonly writer: IndexWriter;
  private validating: Promise<Validate> | undefined;
  private readonly flights = new Map<string, { readonly roots: readonly Pacs[]; readonly done: Promise<Map<Pacs, RootResult>> }>();
  private readonly reading = new Map<string, Promise<StudyRead>>();

  /** Checks the options (bad usage throws UsageError) and readies the index (which must be open writable). */
  constructor(index: SearchIndex, options: PacsOptions) {
    if (options.roots.length === 0) throw new UsageError("--pacs takes a DICOMweb service root, e.g. https://pacs.example.org/dicom-web");
    const maxAge = options.maxAge ?? DEFAULT_MAX_AGE;
    if (!(Number.isFinite(maxAge) && maxAge >= 0)) throw new UsageError("--max-age takes a number of seconds from 0 up");
    if (options.timezone !== undefined && !isTimeZone(options.timezone))
      throw new UsageError(`unknown --timezone "${options.timezone}": use an IANA zone name such as Europe/Zurich or UTC`);
    this.maxAge = maxAge;
    this.maxAgeMs = maxAge * 1000;
    this.zoneRule = options.timezone !== undefined ? { zone: options.timezone, source: "option" } : { zone: systemTimeZone(), source: "system" };
    const shown = new Set<string>();
    this.pacs = options.roots.map((input) => {
      // A root of its own plan: each is checked as `convert` checks one, and is the Endpoint of its own studies.
      const plan = planDicomWeb([{ kind: "dicomweb", url: input }], {
        concurrency: options.concurrency,
        token: options.token,
        http: { ...ON_DEMAND_POLICY, ...options.http },
      });
      const root = dicomWebRoot(input);
      if (shown.has(root.shown)) throw new UsageError("the same --pacs root is given twice");
      shown.add(root.shown);
      return { root, plan, endpoint: toEndpoint(root.shown), limit: pLimit(plan.concurrency) };
    });
    this.store = new OnDemandStore(index);
    this.writer = new IndexWriter(index);
  }

  /**
   * A Patient the index knows, with the Patient ID a PACS is asked by (patient=Patient/<id>). Remembered: a Patient's
   * id is the hash of its Patient ID and issuer, so what it answers never changes (unless it is not known yet).
   */
  readonly knownPatient: KnownPatient = (id) => {
    const remembered = this.patientIds.get(id);
    if (remembered) return remembered;
    const line = this.writer.resource("Patient", id);
    if (!line) return undefined;
    const patient = JSON.parse(line.toString("utf8")) as { identifier?: JsonIdentifier[] };
    const found = { patientId: patient.identifier?.find((i) => typeof i.value === "string")?.value as string | undefined };
    if (this.patientIds.size >= 100_000) this.patientIds.clear();
    this.patientIds.set(id, found);
    return found;
  };
  private readonly patientIds = new Map<string, { readonly patientId: string | undefined }>();

  /**
   * Makes sure the index holds every PACS's answer for each key: reused when within max-age (and `noCache` is not
   * set), asked otherwise. Never throws for a PACS that cannot be asked: its state says so.
   */
  async ensure(keys: readonly QueryKey[], noCache: boolean): Promise<PacsState[]> {
    const fresh = this.freshStates(keys, noCache);
    if (fresh) return fresh;
    const now = Date.now();
    const stale = keys.map((key) => this.pacs.filter((p) => noCache || !this.isFresh(p, key, now)));
    for (const s of stale) this.counts.hits += this.pacs.length - s.length;
    // Within max-age (most searches): nothing to wait for.
    const none = new Map<Pacs, RootResult>();
    const asked = stale.every((s) => s.length === 0)
      ? stale.map(() => none)
      : await Promise.all(keys.map((key, i) => (stale[i]!.length === 0 ? none : this.refresh(key, stale[i]!, noCache))));
    return keys.flatMap((key, i) =>
      this.pacs.map((p): PacsState => {
        const answer = this.store.answer(p.root.shown, keyText(key));
        const result = asked[i]!.get(p);
        const base = { root: p.root.shown, key, fetched: answer?.fetched, failed: answer?.failed ?? [], rejected: answer?.rejected ?? [] };
        if (result === undefined) return { ...base, state: "fresh" };
        if (result.ok) return { ...base, state: "asked" };
        return answer
          ? { ...base, state: "fallback", reason: result.reason }
          : { ...base, state: "unanswered", reason: result.reason, failed: [], rejected: [] };
      }),
    );
  }

  /** The states of `keys` when every PACS's answer for each is within max-age (counted as cache hits), else undefined. */
  freshStates(keys: readonly QueryKey[], noCache: boolean): PacsState[] | undefined {
    if (noCache) return undefined;
    const now = Date.now();
    const states: PacsState[] = [];
    for (const key of keys) {
      const text = keyText(key);
      for (const p of this.pacs) {
        const answer = this.store.answer(p.root.shown, text);
        if (answer === undefined || !this.isFreshAnswer(answer, now)) return undefined;
        states.push({ root: p.root.shown, key, state: "fresh", fetched: answer.fetched, failed: answer.failed, rejected: answer.rejected });
      }
    }
    this.counts.hits += states.length;
    return states;
  }

  private isFresh(pacs: Pacs, key: QueryKey, now: number): boolean {
    const answer = this.store.answer(pacs.root.shown, keyText(key));
    return answer !== undefined && this.isFreshAnswer(answer, now);
  }

  private isFreshAnswer(answer: Answer, now: number): boolean {
    // An answer with studies that could not be read is asked again at once: they may be readable now.
    return !answer.stale && answer.failed.length === 0 && now - answer.fetched < this.maxAgeMs;
  }

  /** Asks `roots` for `key`, or joins the query already under way for it. */
  private async refresh(key: QueryKey, roots: readonly Pacs[], reread: boolean): Promise<Map<Pacs, RootResult>> {
    const text = keyText(key);
    const flight = this.flights.get(text);
    if (flight) {
      const results = await flight.done;
      const missing = roots.filter((p) => !flight.roots.includes(p));
      if (missing.length === 0) return results;
      return new Map([...results, ...(await this.refresh(key, missing, reread))]);
    }
    const done = this.ask(key, roots, reread).finally(() => this.flights.delete(text));
    this.flights.set(text, { roots, done });
    return done;
  }

  private async ask(key: QueryKey, roots: readonly Pacs[], reread: boolean): Promise<Map<Pacs, RootResult>> {
    const text = keyText(key);
    const fetched = Date.now();
    this.counts.queries += roots.length;
    const listings = new Map<Pacs, Listing>(await Promise.all(roots.map(async (p) => [p, await listStudies(p, key)] as const)));
    const results = new Map<Pacs, RootResult>();
    for (const [p, listing] of listings) {
      if ("failure" in listing) this.counts.failures++;
      results.set(p, "failure" in listing ? { ok: false, reason: listing.failure.reason } : { ok: true });
    }

    // Which PACS each study is taken from: the first root (in the order given) that lists it, now or in its answer.
    const holder = new Map<string, Pacs>();
    for (const p of this.pacs) {
      const listing = listings.get(p);
      const uids =
        listing === undefined ? (this.store.answer(p.root.shown, text)?.studies ?? []) : "studies" in listing ? listing.studies.map((s) => s.uid) : [];
      for (const uid of uids) if (!holder.has(uid)) holder.set(uid, p);
    }
    const toRead: Array<{ readonly pacs: Pacs; readonly uid: string; readonly listing: string }> = [];
    for (const [p, listing] of listings) {
      if (!("studies" in listing)) continue;
      for (const { uid, listing: digest } of listing.studies) {
        if (holder.get(uid) !== p || this.folderHolds(uid)) continue;
        const known = this.store.study(uid);
        // Listed as when it was read, by the same PACS: unchanged, unless the search asked for no-cache.
        if (!reread && known?.root === p.root.shown && known.listing === digest && this.isSettled(known)) continue;
        toRead.push({ pacs: p, uid, listing: digest });
      }
    }
    const reads = await Promise.all(toRead.map((t) => this.readOnce(t.pacs, t.uid)));
    // Loaded when first needed: a server whose searches the index answers never compiles them.
    const validate = await (this.validating ??= loadValidate());

    // Each PACS's studies assembled together, as `convert <root>` assembles them.
    const fetchedStudies: FetchedStudy[] = [];
    const failed = new Map<Pacs, string[]>(roots.map((p) => [p, []]));
    for (const p of roots) {
      const mine = toRead.flatMap((t, i) => (t.pacs === p ? [{ ...t, read: reads[i]! }] : []));
      for (const t of mine) if ("failure" in t.read) failed.get(p)!.push(t.uid);
      const records = mine.flatMap((t) => ("records" in t.read ? t.read.records : []));
      const studies = new Map(assemble(records).studies.map((s) => [s.studyInstanceUID, s]));
      for (const t of mine) {
        if ("failure" in t.read) continue;
        const study = studies.get(t.uid);
        if (!study) {
          failed.get(p)!.push(t.uid);
          continue;
        }
        const mapped = mapAndValidateStudy(study, { reference: `Endpoint/${p.endpoint.id}` }, this.zoneRule, validate);
        fetchedStudies.push({
          id: t.uid,
          root: p.root.shown,
          listing: t.listing,
          patientKey: mapped.patientKey,
          patient: mapped.patient,
          resource: mapped.problem ? undefined : Buffer.from(JSON.stringify(mapped.resource)),
        });
      }
    }

    this.writer.transaction(() => {
      const patients = new Set<string>();
      const changed = new Set<string>();
      const remove = (uid: string) => {
        const known = this.store.study(uid);
        if (!known) return;
        patients.add(known.patientKey);
        this.store.deleteStudy(uid);
        this.writer.deleteStudy(uid);
      };
      for (const study of fetchedStudies) {
        const known = this.store.study(study.id);
        if (known) patients.add(known.patientKey);
        this.store.putStudy(study);
        patients.add(study.patientKey);
        changed.add(study.id);
      }
      for (const [p, listing] of listings) {
        if (!("studies" in listing)) continue;
        const listed = new Set(listing.studies.map((s) => s.uid));
        // A study that failed is left out, whatever an earlier read gave.
        for (const uid of failed.get(p)!) if (this.store.study(uid)?.root === p.root.shown) remove(uid);
        for (const uid of this.store.answer(p.root.shown, text)?.studies ?? []) {
          if (listed.has(uid)) continue;
          if (this.store.study(uid)?.root === p.root.shown) remove(uid);
          this.store.invalidateAnswersListing(uid, { root: p.root.shown, key: text });
        }
        this.writer.putEndpoint(p.endpoint.id, Buffer.from(JSON.stringify(p.endpoint)));
      }
      for (const patientKey of patients) this.settlePatient(patientKey, changed, validate);
      for (const [p, listing] of listings) {
        if (!("studies" in listing)) continue;
        const studies = listing.studies.map((s) => s.uid);
        const rejected = studies.filter((uid) => this.store.study(uid)?.root === p.root.shown && !this.writer.resource("ImagingStudy", uid));
        this.store.putAnswer(p.root.shown, text, { fetched, stale: false, studies, failed: failed.get(p)!, rejected });
      }
    });
    return results;
  }

  /** Reads a study's metadata, or joins the read of it under way. */
  private readOnce(pacs: Pacs, uid: string): Promise<StudyRead> {
    const key = `${pacs.root.shown}\n${uid}`;
    let read = this.reading.get(key);
    if (!read) {
      this.counts.studies++;
      read = readStudy(pacs, uid)
        .then((r) => {
          if ("failure" in r) this.counts.failures++;
          return r;
        })
        .finally(() => this.reading.delete(key));
      this.reading.set(key, read);
    }
    return read;
  }

  /** The folder's own conversion holds the study: the PACS adds to the folder, never replaces what it holds. */
  private folderHolds(uid: string): boolean {
    return this.store.study(uid) === undefined && this.writer.resource("ImagingStudy", uid) !== undefined;
  }

  /** A study read before is in the index as its read left it (valid, with a valid Patient), or rejected for good reason. */
  private isSettled(study: FetchedStudy): boolean {
    return (
      study.resource === undefined || this.writer.resource("ImagingStudy", study.id) !== undefined || !this.store.ownsPatient(patientIdOf(study.patientKey))
    );
  }

  /**
   * A patient's Patient made again from every study fetched for it (as `convert` makes it from all of its studies),
   * and its studies written: a Patient that fails validation takes its studies with it, as in `convert`. A Patient
   * of the folder's own conversion stays as converted.
   */
  private settlePatient(patientKey: string, changed: ReadonlySet<string>, validate: Validate): void {
    const id = patientIdOf(patientKey);
    const studies = this.store.studiesOfPatient(patientKey);
    const owned = this.store.ownsPatient(id);
    const folders = !owned && this.writer.resource("Patient", id) !== undefined;
    if (studies.length === 0) {
      if (owned) this.writer.deletePatient(id), this.store.setPatientOwned(id, false);
      return;
    }
    if (!folders) {
      const patient = patientOf(
        patientKey,
        studies.map((s) => s.patient),
        studies.map((s) => s.id),
      );
      if (validate(patient) !== undefined) {
        if (owned) this.writer.deletePatient(id), this.store.setPatientOwned(id, false);
        for (const s of studies) this.writer.deleteStudy(s.id);
        return;
      }
      const line = Buffer.from(JSON.stringify(patient));
      if (!owned || !this.writer.resource("Patient", id)?.equals(line)) this.writer.putPatient(id, line);
      this.store.setPatientOwned(id, true);
    }
    for (const s of studies) {
      if (!s.resource) this.writer.deleteStudy(s.id);
      else if (changed.has(s.id) || !this.writer.resource("ImagingStudy", s.id)) this.writer.putStudy(s.id, s.resource);
    }
  }
}
