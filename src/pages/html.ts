// What every page shares: escaping, the page frame and its stylesheet. The pages are self-contained (inline style
// and script, no sibling file, no font or image from anywhere), so that a report opens offline, from disk or as an
// e-mail attachment, and the search page needs nothing but the server that sent it.

/** Text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * JSON inside <script>: `<` escaped, so that no value (a message, a code) can end the script element or open a
 * comment, and U+2028/2029 escaped for older parsers.
 */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/** A script's source inline: `</script` inside it would end the element early. */
export function inlineScript(source: string): string {
  return `<script>${source.replace(/<\/(script)/gi, "<\\/$1")}</script>`;
}

/** A whole number as it is in the JSON: plain digits, so that a reader (or a check) finds report.json's value. */
export const num = (n: number): string => String(n);

/** Shows, in a report, when its file was written: from the file itself, so that the bytes stay those of the run. */
export const WRITTEN_SCRIPT = inlineScript(
  `(function(){var d=new Date(document.lastModified);if(!isNaN(d))document.getElementById("written").textContent=d.toLocaleString();})();`,
);

export interface PageParts {
  readonly title: string;
  readonly body: string;
  /** Inline scripts, in order, after the body. */
  readonly scripts?: readonly string[];
  /** Where the page's scripts may send requests: nowhere (a report) or its own server (the search page). */
  readonly connect?: "'none'" | "'self'";
  /** Style the page adds to the shared sheet. */
  readonly extraStyle?: string;
}

export function page({ title, body, scripts = [], connect = "'none'", extraStyle = "" }: PageParts): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src ${connect}">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<style>${STYLE}${extraStyle}</style>
</head>
<body>
${body}
${scripts.join("\n")}
</body>
</html>
`;
}

// System fonts only; sizes in rem so that a reader's zoom works; one column under 700 px (a phone, 400 px wide).
const STYLE = `
:root{color-scheme:light;--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--bg:#fff;--accent:#0b5cad;--bad:#b3261e;--ok:#1a7f37}
*{box-sizing:border-box}
body{margin:0;font:1rem/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;color:var(--fg);background:var(--bg)}
header,main,footer{max-width:1200px;margin:0 auto;padding:0 1rem}
header{padding-top:1rem;border-bottom:1px solid var(--line)}
h1{font-size:1.5rem;margin:.2rem 0 .5rem}
h2{font-size:1.2rem;margin:1.6rem 0 .5rem;border-bottom:1px solid var(--line);padding-bottom:.2rem}
h3{font-size:1rem;margin:1rem 0 .3rem}
p.note,.muted{color:var(--muted)}
a{color:var(--accent)}
dl.totals{display:grid;grid-template-columns:repeat(auto-fill,minmax(9.5rem,1fr));gap:.5rem;margin:.8rem 0}
dl.totals div{border:1px solid var(--line);border-radius:6px;padding:.4rem .6rem}
dl.totals dt{font-size:.85rem;color:var(--muted)}
dl.totals dd{margin:0;font-size:1.35rem;font-weight:600;font-variant-numeric:tabular-nums}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,30rem),1fr));gap:1rem}
figure{margin:0;border:1px solid var(--line);border-radius:6px;padding:.6rem;min-width:0}
figcaption{font-weight:600;margin-bottom:.3rem}
.chart{position:relative;height:240px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
td.n,th.n{text-align:right}
.scroll{overflow-x:auto}
details{margin:.4rem 0}
summary{cursor:pointer}
.status-bad{color:var(--bad);font-weight:600}
.status-ok{color:var(--ok);font-weight:600}
code{font-size:.9em;overflow-wrap:anywhere}
footer{margin-top:2rem;padding-bottom:2rem;color:var(--muted);font-size:.85rem}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
@media (max-width:700px){h1{font-size:1.25rem}dl.totals{grid-template-columns:repeat(2,1fr)}.chart{height:220px}}
`;
