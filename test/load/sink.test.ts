// The load bench's sink (scripts/bench/load-sink.ts) reads only what its answer needs, and must still read it right
// for any Bundle: resources that hold keys named like the ones it looks for, escapes, nesting.
import { describe, expect, it } from "vitest";
import { answerBundle, scanBundle } from "../../scripts/bench/load-sink.js";

describe("load bench sink", () => {
  it("answers one entry per request entry, in order, whatever the resources hold", () => {
    const tricky = {
      resourceType: "Basic",
      id: "x",
      request: { method: "DELETE", url: "not/this" },
      entry: [{ request: { url: "nor/this" } }],
      text: 'a "quoted" \\ back\\slash \\" and } ] { [ , :',
      nested: [[[{ url: "deep" }]], { 'key"': "v\\", "": [] }],
    };
    const bundle = {
      resourceType: "Bundle",
      type: "batch",
      entry: [
        { fullUrl: "http://x/fhir/Basic/x", resource: tricky, request: { method: "PUT", url: "Basic/x" } },
        { request: { method: "DELETE", url: "Patient/p" } },
        { resource: { resourceType: "Patient", id: "q" }, request: { url: "Patient/q", method: "PUT" } },
      ],
    };
    const scanned = scanBundle(Buffer.from(JSON.stringify(bundle, null, 1)))!;
    expect(scanned).toEqual({
      type: "batch",
      entries: [
        { method: "PUT", url: "Basic/x" },
        { method: "DELETE", url: "Patient/p" },
        { method: "PUT", url: "Patient/q" },
      ],
    });
    expect(JSON.parse(answerBundle(scanned))).toEqual({
      resourceType: "Bundle",
      type: "batch-response",
      entry: [
        { response: { status: "201 Created", location: "Basic/x/_history/1" } },
        { response: { status: "200 OK" } },
        { response: { status: "201 Created", location: "Patient/q/_history/1" } },
      ],
    });
    expect(scanBundle(Buffer.from('{"entry":[{"request":{"url":"a"}}]'))).toBeUndefined();
    expect(scanBundle(Buffer.from('{"entry":"unterminated'))).toBeUndefined();
  });
});
