// GET [base] from a browser (Accept: text/html): the search page. Any other client gets what it got before, the
// FHIR 404 of a URL that is no resource. The page is open (it holds no patient data, only the index's counts);
// the searches it sends go through the secured routes like any client's.
import { readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import type { FastifyInstance } from "fastify";
import type { ServerContext } from "../context.js";
import { COMMON_HEADERS } from "../reply.js";

export interface PageOptions {
  readonly basePath: string;
  readonly tokenRequired: boolean;
  readonly viewerUrl?: string;
}

export async function pageRoutes(app: FastifyInstance, context: ServerContext, options: PageOptions): Promise<void> {
  let html: Buffer | undefined;
  app.get("/", async (request, reply) => {
    // What the base URL answered before there was a page: the server's FHIR 404.
    if (!wantsHtml(request.headers.accept)) return reply.callNotFound();
    // Made on the first request: a server only API clients use never loads the page's code.
    if (!html) {
      const { renderSearchPage } = await import("../../pages/searchPage.js");
      html = Buffer.from(
        renderSearchPage({ basePath: options.basePath, tokenRequired: options.tokenRequired, viewerUrl: options.viewerUrl, status: statusOf(context) }),
      );
    }
    context.counts.requests++;
    return reply
      .code(200)
      .headers(COMMON_HEADERS)
      .header("x-frame-options", "DENY")
      .header("referrer-policy", "no-referrer")
      .type("text/html; charset=utf-8")
      .send(html);
  });
}

/** HTML only to a client that names text/html (a browser), not to one that takes anything (*∕*). */
function wantsHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(",").some((part) => {
    const [type, ...params] = part.split(";").map((s) => s.trim().toLowerCase());
    return type === "text/html" && !params.some((p) => /^q=0(\.0*)?$/.test(p));
  });
}

/** The index's counts, when its folder was converted (the index's time), and the DICOMweb roots report.json names. */
function statusOf(context: ServerContext) {
  const indexPath = context.index.db.name;
  const folder = dirname(indexPath);
  let converted: string | undefined;
  try {
    converted = `${statSync(indexPath).mtime.toISOString().replace("T", " ").slice(0, 16)} UTC`;
  } catch {
    converted = undefined;
  }
  // serve --pacs: the roots it asks, as /metadata lists them (without credentials).
  const roots = new Set(context.onDemand?.pacs.map((p) => p.root.shown) ?? []);
  try {
    const report = JSON.parse(readFileSync(join(folder, "report.json"), "utf8")) as { sources?: Array<{ kind?: string; root?: string }> };
    for (const source of report.sources ?? []) if (source.kind === "dicomweb" && typeof source.root === "string") roots.add(source.root);
  } catch {
    // No report.json (a folder indexed by `dcm2fhir index`): no roots to show.
  }
  return { studies: Number(context.index.meta.studies), patients: Number(context.index.meta.patients), converted, pacs: [...roots] };
}
