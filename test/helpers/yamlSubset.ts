// The subset of YAML that scripts/deploy/ is written in, parsed strictly: block mappings and sequences by
// indentation (spaces), `- key: value` items, flow sequences of JSON strings (`["a", "b"]`), plain and quoted
// scalars, comments. Anything else (anchors, tags, block scalars, flow mappings, tabs, several documents) throws, so
// a manifest edited beyond the subset fails its test rather than being half read. No YAML library is installed,
// and one is not worth adding for two manifests.
type Value = string | number | boolean | null | Value[] | { [key: string]: Value };

interface Line {
  readonly indent: number;
  readonly text: string;
  readonly number: number;
}

export function parseYamlSubset(source: string): Value {
  const lines: Line[] = [];
  source.split("\n").forEach((raw, i) => {
    if (raw.includes("\t")) throw new Error(`line ${i + 1}: a tab (outside the subset)`);
    const text = stripComment(raw).trimEnd();
    if (text.trim() === "") return;
    if (text.trim() === "---" || text.trim() === "...") throw new Error(`line ${i + 1}: document markers are outside the subset`);
    lines.push({ indent: text.length - text.trimStart().length, text: text.trim(), number: i + 1 });
  });
  const [value, next] = parseBlock(lines, 0, lines[0]?.indent ?? 0);
  if (next !== lines.length) throw new Error(`line ${lines[next]!.number}: unexpected indentation`);
  return value;
}

function parseBlock(lines: Line[], start: number, indent: number): [Value, number] {
  const first = lines[start];
  if (!first) return [null, start];
  return first.text.startsWith("- ") || first.text === "-" ? parseSequence(lines, start, indent) : parseMapping(lines, start, indent);
}

function parseSequence(lines: Line[], start: number, indent: number): [Value[], number] {
  const items: Value[] = [];
  let i = start;
  while (i < lines.length && lines[i]!.indent === indent && (lines[i]!.text.startsWith("- ") || lines[i]!.text === "-")) {
    const line = lines[i]!;
    const rest = line.text.slice(1).trimStart();
    if (rest === "") {
      const [value, next] = parseBlock(lines, i + 1, lines[i + 1]?.indent ?? indent + 2);
      items.push(value);
      i = next;
    } else if (isMappingEntry(rest)) {
      // "- key: value" opens a mapping whose further keys are indented to where "key" starts.
      const innerIndent = indent + (line.text.length - rest.length);
      const rewritten: Line[] = [{ indent: innerIndent, text: rest, number: line.number }, ...lines.slice(i + 1)];
      const [value, consumed] = parseMapping(rewritten, 0, innerIndent);
      items.push(value);
      i = i + consumed;
    } else {
      items.push(scalar(rest, line.number));
      i++;
    }
  }
  if (i < lines.length && lines[i]!.indent > indent) throw new Error(`line ${lines[i]!.number}: unexpected indentation`);
  return [items, i];
}

function parseMapping(lines: Line[], start: number, indent: number): [{ [key: string]: Value }, number] {
  const mapping: { [key: string]: Value } = {};
  let i = start;
  while (i < lines.length && lines[i]!.indent === indent) {
    const line = lines[i]!;
    if (line.text.startsWith("- ")) break;
    const colon = mappingColon(line.text);
    if (colon === -1) throw new Error(`line ${line.number}: expected "key: value"`);
    const key = line.text.slice(0, colon).trim();
    if (!/^[A-Za-z0-9_.\-/]+$/.test(key)) throw new Error(`line ${line.number}: key "${key}" is outside the subset`);
    if (key in mapping) throw new Error(`line ${line.number}: key "${key}" given twice`);
    const rest = line.text.slice(colon + 1).trim();
    if (rest === "") {
      const next = lines[i + 1];
      if (next && (next.indent > indent || (next.indent === indent && next.text.startsWith("- ")))) {
        const [value, after] = parseBlock(lines, i + 1, next.indent);
        mapping[key] = value;
        i = after;
      } else {
        mapping[key] = null;
        i++;
      }
    } else {
      mapping[key] = scalar(rest, line.number);
      i++;
    }
  }
  if (i < lines.length && lines[i]!.indent > indent) throw new Error(`line ${lines[i]!.number}: unexpected indentation`);
  return [mapping, i];
}

function isMappingEntry(text: string): boolean {
  return mappingColon(text) !== -1 && !text.startsWith('"') && !text.startsWith("[");
}

/** The colon that ends a key: followed by a space or the end of the line, outside quotes. */
function mappingColon(text: string): number {
  if (text.startsWith('"') || text.startsWith("'") || text.startsWith("[")) return -1;
  for (let i = 0; i < text.length; i++) if (text[i] === ":" && (i === text.length - 1 || text[i + 1] === " ")) return i;
  return -1;
}

function scalar(text: string, number: number): Value {
  if (text.startsWith("[")) {
    try {
      const list = JSON.parse(text) as unknown;
      if (Array.isArray(list) && list.every((v) => typeof v === "string")) return list as string[];
    } catch {
      // below
    }
    throw new Error(`line ${number}: a flow sequence must be a JSON array of strings`);
  }
  if (text.startsWith('"')) return JSON.parse(text) as string;
  if (text.startsWith("'")) {
    if (!text.endsWith("'") || text.length < 2) throw new Error(`line ${number}: unterminated quote`);
    return text.slice(1, -1).replaceAll("''", "'");
  }
  if (/^[&*!|>{%@`]/.test(text)) throw new Error(`line ${number}: "${text}" is outside the subset`);
  if (text === "true" || text === "false") return text === "true";
  if (text === "null" || text === "~") return null;
  if (/^-?\d+$/.test(text)) return Number(text);
  return text;
}

function stripComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === "\\" && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "#" && (i === 0 || line[i - 1] === " ")) return line.slice(0, i);
  }
  return line;
}
