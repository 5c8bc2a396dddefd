// ImagingStudy.bundle.json (--format bundle): the searchset Bundle an ImagingStudy search over the whole output
// returns, written from the staged ImagingStudy.ndjson.
import { createHash } from "node:crypto";
import { LineWriter, ndjsonLines } from "../lib/ndjson.js";

/** fullUrl of a study in a searchset Bundle: a name-based UUID (RFC 4122 v5, OID namespace) of its UID. */
export function studyFullUrl(studyInstanceUID: string): string {
  const namespace = Buffer.from("6ba7b8129dad11d180b400c04fd430c8", "hex");
  const hash = createHash("sha1").update(namespace).update(studyInstanceUID).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString("hex");
  return `urn:uuid:${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Writes the searchset Bundle from the staged ImagingStudy.ndjson, one entry per line, without holding it in memory. */
export function writeSearchSetBundle(ndjsonPath: string, bundlePath: string, total: number): void {
  const writer = new LineWriter(bundlePath);
  writer.write(`{"resourceType":"Bundle","type":"searchset","total":${total},"entry":[`);
  let first = true;
  for (const { line: bytes } of ndjsonLines(ndjsonPath)) {
    const line = bytes.toString("utf8");
    const id = (JSON.parse(line) as { id: string }).id;
    writer.write(`${first ? "\n" : ",\n"}{"fullUrl":"${studyFullUrl(id)}","resource":${line},"search":{"mode":"match"}}`);
    first = false;
  }
  writer.write("\n]}\n");
  writer.close();
}
