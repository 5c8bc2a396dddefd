// One NDJSON line checked as JSON without being parsed: load sends each line's bytes as they are, and needs of
// them only that they are one JSON object (a line JSON.parse would refuse is never sent) and the object's
// top-level "resourceType" and "id". Parsing every line with JSON.parse only to learn those cost ~25 µs per
// 5 KB study and most of the loader's garbage; one pass over the bytes costs a few µs and allocates nothing.
// Anything this scan is not sure of (an escape in one of the two values, a key given twice, a line it finds
// invalid) is answered `undefined`: the caller then asks JSON.parse, which stays the judge.

/** Where the two values are in the line (byte offsets, end exclusive); absent when the key is absent. */
export interface TopLevel {
  /** The value of "resourceType" when it is a string, "non-string" when it is something else. */
  resourceType?: readonly [start: number, end: number] | "non-string";
  id?: readonly [start: number, end: number] | "non-string";
}

// States of the scan: what may come next.
const VALUE = 0;
const KEY_OR_CLOSE = 1; // after {
const KEY = 2; // after , in an object
const COLON = 3;
const AFTER_VALUE = 4;
const VALUE_OR_CLOSE = 5; // after [

const SPACE = new Uint8Array(256);
for (const c of [0x20, 0x09, 0x0a, 0x0d]) SPACE[c] = 1; // RFC 8259 2: ws
const ESCAPABLE = new Uint8Array(256);
for (const c of '"\\/bfnrtu') ESCAPABLE[c.charCodeAt(0)] = 1;
/** Bytes that end the plain run of a string: the closing quote, an escape, a control character. */
const STRING_STOP = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) STRING_STOP[c] = 1;
STRING_STOP[0x22] = 1;
STRING_STOP[0x5c] = 1;
const HEX = new Uint8Array(256);
for (const c of "0123456789abcdefABCDEF") HEX[c.charCodeAt(0)] = 1;

/** Containers open: 1 object, 2 array. 64 deep is more than any resource we write; deeper: not sure. Shared: a scan is synchronous. */
const STACK = new Uint8Array(64);

const RESOURCE_TYPE = Buffer.from("resourceType");
const ID = Buffer.from("id");

/**
 * The top-level "resourceType" and "id" of `line` [start, end) when it is exactly one JSON object (RFC 8259,
 * surrounding whitespace allowed) whose two keys are plain; undefined otherwise (not JSON, or not sure).
 * UTF-8 validity is not checked here (the caller does).
 */
export function scanTopLevel(line: Uint8Array, start: number, end: number): TopLevel | undefined {
  const found: TopLevel = {};
  const stack = STACK;
  let depth = 0;
  let state = VALUE;
  // Which top-level key's value comes next (0 none, 1 resourceType, 2 id).
  let pending = 0;
  let i = start;
  while (i < end) {
    const c = line[i]!;
    if (SPACE[c]) {
      i++;
      continue;
    }
    if (state === AFTER_VALUE) {
      if (depth === 0) return undefined; // something after the object
      if (c === 0x2c /* , */) state = stack[depth - 1] === 1 ? KEY : VALUE;
      else if (c === 0x7d /* } */ && stack[depth - 1] === 1) depth--;
      else if (c === 0x5d /* ] */ && stack[depth - 1] === 2) depth--;
      else return undefined;
      i++;
      continue;
    }
    if (state === COLON) {
      if (c !== 0x3a /* : */) return undefined;
      state = VALUE;
      i++;
      continue;
    }
    if (state === KEY || state === KEY_OR_CLOSE) {
      if (c === 0x7d && state === KEY_OR_CLOSE) {
        depth--;
        state = AFTER_VALUE;
        i++;
        continue;
      }
      if (c !== 0x22) return undefined;
      const close = stringEnd(line, i + 1, end);
      if (close < 0) return undefined;
      if (depth === 1) {
        // An escaped key may spell "id" in other bytes. Not sure.
        if (hasBackslash(line, i + 1, close)) return undefined;
        const which = equals(line, i + 1, close, RESOURCE_TYPE) ? 1 : equals(line, i + 1, close, ID) ? 2 : 0;
        // A key given twice: JSON.parse keeps the last, and a server may keep either. Not sure.
        if ((which === 1 && found.resourceType) || (which === 2 && found.id)) return undefined;
        pending = which;
      }
      state = COLON;
      i = close + 1;
      continue;
    }
    // A value (VALUE, or VALUE_OR_CLOSE).
    if (c === 0x5d /* ] */ && state === VALUE_OR_CLOSE) {
      depth--;
      state = AFTER_VALUE;
      i++;
      continue;
    }
    if (depth === 0 && c !== 0x7b) return undefined; // a line is an object
    const top = depth === 1 ? pending : 0;
    if (top !== 0 && c !== 0x22) {
      if (top === 1) found.resourceType = "non-string";
      else found.id = "non-string";
    }
    pending = 0;
    if (c === 0x22 /* " */) {
      const close = stringEnd(line, i + 1, end);
      if (close < 0) return undefined;
      if (top !== 0) {
        // An escape in the value: its text is not its bytes. Not sure.
        if (hasBackslash(line, i + 1, close)) return undefined;
        if (top === 1) found.resourceType = [i + 1, close];
        else found.id = [i + 1, close];
      }
      i = close + 1;
      state = AFTER_VALUE;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (depth === stack.length) return undefined;
      stack[depth++] = c === 0x7b ? 1 : 2;
      state = c === 0x7b ? KEY_OR_CLOSE : VALUE_OR_CLOSE;
      i++;
    } else {
      const next = literalEnd(line, i, end);
      if (next < 0) return undefined;
      i = next;
      state = AFTER_VALUE;
    }
  }
  return depth === 0 && state === AFTER_VALUE ? found : undefined;
}

/** The index of the quote that closes a string whose content starts at `i`; -1 when it is not a valid string. */
function stringEnd(line: Uint8Array, i: number, end: number): number {
  for (;;) {
    while (i < end && STRING_STOP[line[i]!] === 0) i++;
    if (i >= end) return -1;
    const c = line[i]!;
    if (c === 0x22) return i;
    if (c < 0x20) return -1; // RFC 8259 7: control characters are escaped
    if (c === 0x5c) {
      const e = line[i + 1];
      if (i + 1 >= end || e === undefined || !ESCAPABLE[e]) return -1;
      if (e === 0x75 /* u */) {
        if (i + 5 >= end || !HEX[line[i + 2]!] || !HEX[line[i + 3]!] || !HEX[line[i + 4]!] || !HEX[line[i + 5]!]) return -1;
        i += 6;
      } else {
        i += 2;
      }
      continue;
    }
    i++;
  }
}

const TRUE = Buffer.from("true");
const FALSE = Buffer.from("false");
const NULL = Buffer.from("null");

/** After a number, true, false or null starting at `i`: the index past it; -1 when it is none of them. */
function literalEnd(line: Uint8Array, i: number, end: number): number {
  const c = line[i]!;
  // One test per word, not a loop over an array of them: this runs for every number of a study.
  if (c === 0x74 /* t */) return wordEnd(line, i, end, TRUE);
  if (c === 0x66 /* f */) return wordEnd(line, i, end, FALSE);
  if (c === 0x6e /* n */) return wordEnd(line, i, end, NULL);
  // RFC 8259 6: -? (0 | [1-9] digit*) (. digit+)? ([eE] [+-]? digit+)?
  if (c === 0x2d /* - */) i++;
  if (line[i] === 0x30) i++;
  else if (i < end && isDigit(line[i]!)) while (i < end && isDigit(line[i]!)) i++;
  else return -1;
  if (i < end && line[i] === 0x2e /* . */) {
    i++;
    if (!(i < end && isDigit(line[i]!))) return -1;
    while (i < end && isDigit(line[i]!)) i++;
  }
  if (i < end && (line[i] === 0x65 || line[i] === 0x45) /* e E */) {
    i++;
    if (i < end && (line[i] === 0x2b || line[i] === 0x2d)) i++;
    if (!(i < end && isDigit(line[i]!))) return -1;
    while (i < end && isDigit(line[i]!)) i++;
  }
  return i;
}

function wordEnd(line: Uint8Array, i: number, end: number, word: Uint8Array): number {
  return i + word.length <= end && equals(line, i, i + word.length, word) ? i + word.length : -1;
}

function hasBackslash(line: Uint8Array, start: number, end: number): boolean {
  for (let k = start; k < end; k++) if (line[k] === 0x5c) return true;
  return false;
}

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;

function equals(line: Uint8Array, start: number, end: number, word: Uint8Array): boolean {
  if (end - start !== word.length) return false;
  for (let k = 0; k < word.length; k++) if (line[start + k] !== word[k]) return false;
  return true;
}

// V8 optimizes the scan after its first lines. Lines of one kind (the Endpoint, then Patients: no numbers, no
// escapes) leave those paths without type feedback, and the first ImagingStudy then throws the optimized code
// away: a deopt and two more compiles of the scan (~0.1 s of compiler CPU in a load of 10,000 resources, and the
// lines in between scanned by the interpreter). One line that takes every path, scanned here, gives them all their
// feedback before anything is optimized: a few times over, as V8 keeps no feedback for a function's first calls.
const EVERY_PATH = Buffer.from(' {"resourceType":"X", "id":"y","a":[1,-2.5e+3,0.1E-2,0,true,false,null,{},[],"\\u00e9\\n/"],"b":{"c":[{"d":"e"}]}}\t');
for (let i = 0; i < 16; i++) scanTopLevel(EVERY_PATH, 0, EVERY_PATH.length);
