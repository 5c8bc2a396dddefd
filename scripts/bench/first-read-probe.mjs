// Loaded with `node --import` by the bench's speed section (scripts/bench/speed.ts): notes when the process first
// opens a file under FIRST_READ_UNDER, the start of its first file read, as epoch milliseconds in the file
// FIRST_READ_FILE. Plain JavaScript, so that it adds no loader to the start-up it measures.
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";

const under = process.env.FIRST_READ_UNDER;
const out = process.env.FIRST_READ_FILE;
const opens = { openSync: fs.openSync, open: fs.open, promisesOpen: fs.promises.open };

function note(path) {
  if (typeof path !== "string" || !under || !path.startsWith(under)) return;
  fs.writeFileSync(out, String(performance.timeOrigin + performance.now()));
  fs.openSync = opens.openSync;
  fs.open = opens.open;
  fs.promises.open = opens.promisesOpen;
  syncBuiltinESMExports();
}

fs.openSync = function openSync(path, ...rest) {
  note(path);
  return opens.openSync.call(this, path, ...rest);
};
fs.open = function open(path, ...rest) {
  note(path);
  return opens.open.call(this, path, ...rest);
};
fs.promises.open = function open(path, ...rest) {
  note(path);
  return opens.promisesOpen.call(this, path, ...rest);
};
syncBuiltinESMExports();
