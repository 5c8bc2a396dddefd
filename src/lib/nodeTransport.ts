// load's HTTP client under send(): node:http(s) with keep-alive agents. Node's fetch cost the loader more CPU
// than everything else it does per Bundle (it copies each body into a web stream, and loading undici itself
// takes ~0.15 s of CPU at start-up); here a body goes to the socket as the buffer it is, and the answer is read
// into one buffer. Redirects are followed as fetch follows them (WHATWG Fetch 4.4 "HTTP-redirect fetch").
import { Agent as HttpAgent, type IncomingHttpHeaders, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import type { SendResponse, Transport } from "./http.js";

const MAX_REDIRECTS = 20;

/**
 * A transport whose connections stay open between requests. Once an exchange has settled, its body is no longer
 * read (the caller may reuse the buffer). Sockets are not limited here: load's Pace decides
 * how many requests are in flight, and a limit below it would queue requests out of its sight.
 */
export function nodeTransport(): { readonly transport: Transport; readonly close: () => void } {
  const agents = {
    "http:": new HttpAgent({ keepAlive: true }),
    "https:": new HttpsAgent({ keepAlive: true }),
  };
  const transport: Transport = async (url, request) => {
    let target = url;
    let { method, body } = request;
    let headers: Record<string, string> = { ...request.headers };
    for (let redirects = 0; ; redirects++) {
      const answer = await exchange(target, method, headers, body, request.signal, agents);
      const location = answer.headers.get("location");
      if (![301, 302, 303, 307, 308].includes(answer.status) || location === null) return answer;
      if (redirects === MAX_REDIRECTS) throw new Error("too many redirects");
      const next = new URL(location, target);
      if (next.protocol !== "http:" && next.protocol !== "https:") throw new Error(`redirect to ${next.protocol}`);
      // Fetch: 303, and 301/302 after a POST, become a GET without body; a redirect to another origin drops credentials.
      if (answer.status === 303 || ((answer.status === 301 || answer.status === 302) && method === "POST")) {
        method = "GET";
        body = undefined;
        headers = Object.fromEntries(Object.entries(headers).filter(([name]) => !/^content-/i.test(name)));
      }
      if (next.origin !== target.origin) headers = Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== "authorization"));
      target = next;
    }
  };
  return {
    transport,
    close: () => {
      agents["http:"].destroy();
      agents["https:"].destroy();
    },
  };
}

function exchange(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | Uint8Array | undefined,
  signal: AbortSignal,
  agents: { "http:": HttpAgent; "https:": HttpsAgent },
): Promise<SendResponse> {
  return new Promise((resolve, reject) => {
    const payload = typeof body === "string" ? Buffer.from(body) : body;
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    // The signal is watched here rather than given to request(): node:http ties it to the request with a stream
    // end-of-life watcher per request, which cost load more CPU than the rest of the request's set-up.
    const req = send(url, {
      method,
      headers: payload ? { ...headers, "content-length": String(payload.length) } : headers,
      agent: url.protocol === "https:" ? agents["https:"] : agents["http:"],
    });
    const onAbort = () => fail(new Error("the request was aborted", { cause: signal.reason }));
    // Whatever went wrong, the request is destroyed with it: nothing writes its body after this rejects.
    const fail = (error: Error) => {
      signal.removeEventListener("abort", onAbort);
      req.destroy();
      reject(error);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    // send() names a failed connection by its cause's code (ECONNREFUSED, ECONNRESET), as fetch wraps it.
    req.on("error", (error) => fail(new Error(error.message, { cause: error })));
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("error", fail);
      res.on("aborted", () => fail(new Error("the connection closed before the answer was complete")));
      res.on("end", () => {
        if (!res.complete) return fail(new Error("the connection closed before the answer was complete"));
        signal.removeEventListener("abort", onAbort);
        // A server may answer before it has read the whole body (a 413, say). The connection is closed then, so that
        // nothing writes the body after this resolves: load fills the same buffer with its next Bundle.
        if (!req.writableFinished) req.destroy();
        resolve({ status: res.statusCode ?? 0, headers: headerReader(res.headers), body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) });
      });
    });
    req.end(payload);
  });
}

function headerReader(headers: IncomingHttpHeaders): SendResponse["headers"] {
  return {
    get(name) {
      const value = headers[name.toLowerCase()];
      return value === undefined ? null : Array.isArray(value) ? value.join(", ") : value;
    },
  };
}
