import { readFileSync } from "node:fs";
import { SearchIndex } from "../src/state/searchIndex.js";
import { runSearch } from "../src/search/search.js";
import { pairsFromQuery } from "../src/search/request.js";
const F = process.argv[2]!;
const g = JSON.parse(readFileSync(F + "/generated.json", "utf8")).generated.samples;
const index = SearchIndex.open(F);
const types: Record<string, string[]> = {
  patient: g.map((s: any) => `patient=${s.patient}`),
  pm: g.map((s: any) => `patient=${s.patient}&modality=${s.modality}`),
  id: g.map((s: any) => `identifier=${s.accession}`),
  pid: g.map((s: any) => `patient.identifier=${s.patientIdentifier}&started=ge${s.year}-01-01&started=lt${s.year + 2}-01-01`),
};
for (const [name, qs] of Object.entries(types)) {
  for (const q of qs) runSearch(index, pairsFromQuery(q), { base: "http://x/" });
  const c = process.cpuUsage();
  const N = 3;
  for (let r = 0; r < N; r++) for (const q of qs) runSearch(index, pairsFromQuery(q), { base: "http://x/" });
  const d = process.cpuUsage(c);
  console.log(name, ((d.user + d.system) / 1000 / (N * qs.length)).toFixed(3), "ms cpu/search");
}
