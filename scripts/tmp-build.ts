import { statSync } from "node:fs";
import { buildSearchIndex } from "../src/state/searchIndex.js";
const c = process.cpuUsage(); const t = performance.now();
const s = buildSearchIndex(process.argv[2]!, "/tmp/exp/idx.sqlite", "Europe/Zurich");
const d = process.cpuUsage(c);
console.log(s.studies, "studies; wall", ((performance.now() - t) / 1000).toFixed(2), "s; cpu", ((d.user + d.system) / 1e6).toFixed(2), "s;", (statSync("/tmp/exp/idx.sqlite").size / 1e6).toFixed(1), "MB");
