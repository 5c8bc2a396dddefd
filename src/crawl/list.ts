// --files-from: the inputs as a list, one path per line, as an inventory gives them (`find … -print`, a PACS
// export's manifest) or NUL-separated (`find … -print0`; a list that holds a NUL byte is read as NUL-separated,
// since no path contains one, while a newline can). A final CR is dropped (lists written on Windows); empty lines
// are skipped. Names are bytes: one that is not valid UTF-8 stays bytes, like a name a folder listing gives.
import { createHash } from "node:crypto";
import { isUtf8 } from "node:buffer";
import { createReadStream } from "node:fs";
import type { FilePath } from "../core/reasons.js";

/** The list's SHA-256, known once it has been read to its end: a shard's part records it (see shard/part.ts). */
export interface ListDigest {
  value?: string;
}

/** Paths a batch at a time; `source` is a file or "-" (standard input). */
export async function* listedPaths(source: string, digest: ListDigest, batchSize = 1024): AsyncGenerator<FilePath[]> {
  const hash = createHash("sha256");
  const stream = source === "-" ? process.stdin : createReadStream(source);
  let separator: number | undefined;
  let carry: Buffer = Buffer.alloc(0);
  let batch: FilePath[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    const data = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
    separator ??= data.includes(0) ? 0 : 0x0a;
    let start = 0;
    for (let end = data.indexOf(separator, start); end !== -1; end = data.indexOf(separator, start)) {
      const path = pathOf(data.subarray(start, end), separator);
      if (path !== undefined) batch.push(path);
      start = end + 1;
      if (batch.length === batchSize) {
        yield batch;
        batch = [];
      }
    }
    carry = Buffer.from(data.subarray(start));
  }
  const last = pathOf(carry, separator ?? 0x0a);
  if (last !== undefined) batch.push(last);
  if (batch.length > 0) yield batch;
  digest.value = hash.digest("hex");
}

function pathOf(bytes: Buffer, separator: number): FilePath | undefined {
  const line = separator === 0x0a && bytes[bytes.length - 1] === 0x0d ? bytes.subarray(0, bytes.length - 1) : bytes;
  if (line.length === 0) return undefined;
  return isUtf8(line) ? line.toString("utf8") : Buffer.from(line);
}
