import type { SearchIndex } from "../index/searchIndex.js";
import type { OnDemand } from "../ondemand/onDemand.js";
import type { AnswerBuffer } from "./reply.js";

/** What every route of one server shares. */
export interface ServerContext {
  readonly index: SearchIndex;
  /** `[base]` as printed at start-up, ending with "/"; known once the server listens. */
  base: string;
  readonly allowOpenSearch: boolean;
  readonly counts: ServerCounts;
  /** What plain searches' Bundles are written into. */
  readonly answers: AnswerBuffer;
  /** `--pacs`: searches ask these PACS before the index answers. */
  readonly onDemand?: OnDemand;
}

/** For the summary printed when the server stops: counts only. */
export interface ServerCounts {
  requests: number;
  searches: number;
  reads: number;
  errors: number;
}
