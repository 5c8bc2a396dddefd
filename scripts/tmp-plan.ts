import { readFileSync } from "node:fs";
import { SearchIndex } from "../src/state/searchIndex.js";
import { runSearch } from "../src/search/search.js";
import { pairsFromQuery } from "../src/search/request.js";
const F = process.argv[2]!;
const s = JSON.parse(readFileSync(F + "/generated.json", "utf8")).generated.samples[3];
const index = SearchIndex.open(F);
for (const q of [`patient=${s.patient}`, `patient.identifier=${s.patientIdentifier}&started=ge${s.year}-01-01&started=lt${s.year + 2}-01-01`, `patient=${s.patient}&modality=CT&_count=1`]) runSearch(index, pairsFromQuery(q), { base: "http://x/" });
for (const sql of [...(index as any).statements.keys()]) { console.log(sql.slice(0, 400)); for (const r of index.db.prepare("EXPLAIN QUERY PLAN " + sql).all(...Array((sql.match(/\?/g) ?? []).length).fill(1)) as any[]) console.log("   ", r.detail); }
