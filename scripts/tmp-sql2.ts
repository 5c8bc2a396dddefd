import { readFileSync } from "node:fs";
import Database from "better-sqlite3";
const F = process.argv[2]!;
const g = JSON.parse(readFileSync(F + "/generated.json", "utf8")).generated.samples;
const db = new Database(F + "/.dcm2fhir.search.sqlite", { readonly: true });
db.pragma("cache_size = -" + (process.argv[3] ?? "16384"));
const tok = db.prepare("SELECT study FROM token WHERE parameter = 2 AND code = ?").raw(true);
const page = db.prepare("SELECT s.id, s.resource, s.patient FROM study s WHERE s.rowid IN (SELECT study FROM token WHERE parameter = 2 AND code = ?) ORDER BY s.id LIMIT 51").raw(true);
const pageNoBlob = db.prepare("SELECT s.id, s.patient FROM study s WHERE s.rowid IN (SELECT study FROM token WHERE parameter = 2 AND code = ?) ORDER BY s.id LIMIT 51").raw(true);
function t(name: string, f: (s: any) => void) {
  for (const s of g) f(s);
  const c = process.cpuUsage(); const w = performance.now();
  for (let r = 0; r < 5; r++) for (const s of g) f(s);
  const d = process.cpuUsage(c);
  console.log(name, ((d.user + d.system) / 5 / g.length).toFixed(1), "µs cpu", ((performance.now() - w) * 1000 / 5 / g.length).toFixed(1), "µs wall");
}
t("token only", (s) => tok.all(s.patient));
t("page", (s) => page.all(s.patient));
t("page no blob", (s) => pageNoBlob.all(s.patient));
