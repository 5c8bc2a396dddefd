// The library's `serve`: what `dcm2fhir serve <folder>` runs, a folder's index opened and served, with the PACS behind
// it when `pacs` names any.
import { openCacheIndex } from "../ondemand/folder.js";
import { OnDemand, type PacsOptions } from "../ondemand/onDemand.js";
import { SearchIndex } from "../index/searchIndex.js";
import { type Limits, type RunningServer, startServer } from "./app.js";

export interface ServeOptions {
  /** A converted folder; with `pacs`, also an empty or missing one (created). */
  readonly folder: string;
  readonly host?: string;
  /** Default 8080; 0 picks a free port. */
  readonly port?: number;
  readonly basePath?: string;
  /** The bearer token this server's clients must present. */
  readonly token?: string;
  readonly allowOpenSearch?: boolean;
  /** The search page links each study to this viewer URL, `{study}` standing for its Study Instance UID. */
  readonly viewerUrl?: string;
  /**
   * DICOMweb PACS asked at search time (data on demand): their roots, or the roots with max-age, the token sent to
   * them, the time zone, concurrency and timeouts.
   */
  readonly pacs?: readonly string[] | PacsOptions;
  readonly limits?: Partial<Limits>;
}

export interface ServingFolder extends RunningServer {
  readonly index: SearchIndex;
  readonly onDemand?: OnDemand;
}

/** Serves the folder until close() (which also closes its index). Bad usage throws UsageError, an unusable index IndexError. */
export async function serve(options: ServeOptions): Promise<ServingFolder> {
  const pacs: PacsOptions | undefined =
    options.pacs === undefined ? undefined : "roots" in options.pacs ? options.pacs : { roots: options.pacs as readonly string[] };
  const index = pacs ? openCacheIndex(options.folder, pacs.timezone) : SearchIndex.open(options.folder);
  try {
    const onDemand = pacs ? new OnDemand(index, pacs) : undefined;
    const server = await startServer({
      index,
      onDemand,
      host: options.host ?? "127.0.0.1",
      port: options.port ?? 8080,
      basePath: options.basePath ?? "",
      token: options.token,
      allowOpenSearch: options.allowOpenSearch ?? false,
      viewerUrl: options.viewerUrl,
      limits: options.limits,
    });
    return {
      ...server,
      index,
      onDemand,
      close: async () => {
        await server.close();
        index.close();
      },
    };
  } catch (error) {
    index.close();
    throw error;
  }
}
