// A real server on 127.0.0.1 (port 0) over a folder, and the three ways a search reaches it.
import { afterAll } from "vitest";
import { type Limits, type RunningServer, startServer } from "../../src/serve/app.js";
import { SearchIndex } from "../../src/index/searchIndex.js";

export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  // biome-ignore lint: a FHIR resource, read loosely by tests
  readonly json: any;
}

export interface TestServer {
  readonly base: string;
  readonly server: RunningServer;
  get(path: string, headers?: Record<string, string>): Promise<Answer>;
  /** POST ImagingStudy/_search with a form body. */
  postForm(query: string, headers?: Record<string, string>): Promise<Answer>;
  /** POST ImagingStudy/_search with the JSON object-of-arrays made from the same pairs. */
  postJson(query: string, headers?: Record<string, string>): Promise<Answer>;
  request(method: string, path: string, init?: { body?: string | Buffer; headers?: Record<string, string> }): Promise<Answer>;
}

const running: Array<{ server: RunningServer; index: SearchIndex }> = [];
afterAll(async () => {
  for (const { server, index } of running.splice(0)) {
    await server.close();
    index.close();
  }
});

export async function serveFolder(
  folder: string,
  options: { allowOpenSearch?: boolean; token?: string; basePath?: string; limits?: Partial<Limits> } = {},
): Promise<TestServer> {
  const index = SearchIndex.open(folder);
  const server = await startServer({
    index,
    host: "127.0.0.1",
    port: 0,
    basePath: options.basePath ?? "",
    token: options.token,
    allowOpenSearch: options.allowOpenSearch ?? false,
    limits: options.limits,
  });
  running.push({ server, index });
  const request = async (method: string, path: string, init: { body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<Answer> => {
    const response = await fetch(`${server.base}${path}`, { method, body: init.body, headers: init.headers });
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, text, json };
  };
  return {
    base: server.base,
    server,
    request,
    get: (path, headers) => request("GET", path, { headers }),
    postForm: (query, headers) =>
      request("POST", "ImagingStudy/_search", { body: query, headers: { "content-type": "application/x-www-form-urlencoded", ...headers } }),
    postJson: (query, headers) =>
      request("POST", "ImagingStudy/_search", { body: JSON.stringify(jsonBody(query)), headers: { "content-type": "application/json", ...headers } }),
  };
}

/** The seed API's body for a query string: each repetition of a parameter one element of its array. */
export function jsonBody(query: string): Record<string, string[]> {
  const body: Record<string, string[]> = {};
  for (const [name, value] of new URLSearchParams(query)) (body[name] ??= []).push(value);
  return body;
}

/** The ids of a Bundle's entries of one search mode, in order. */
// biome-ignore lint: a Bundle, read loosely
export const ids = (bundle: any, mode = "match"): string[] => (bundle.entry ?? []).filter((e: any) => e.search.mode === mode).map((e: any) => e.resource.id);

/** GET a URL (a next link, say) and parse its JSON body. */
// biome-ignore lint: a FHIR resource, read loosely by tests
export const getJson = async (url: string): Promise<any> => (await fetch(url)).json();
