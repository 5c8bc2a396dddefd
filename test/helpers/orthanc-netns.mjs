// Runs inside a network namespace of its own (`unshare -n node orthanc-netns.mjs <config> <socket> <port> <log>`):
// Orthanc 1.10 binds every interface and has no setting to bind one, so it gets a namespace whose only interface is
// its own loopback, and the test reaches it through a Unix socket this script relays to 127.0.0.1:<port>.
// Ends Orthanc, and itself, when its stdin closes (the test process ended, however it ended) or on SIGTERM.
import { execFileSync, spawn } from "node:child_process";
import { openSync } from "node:fs";
import { connect, createServer } from "node:net";

const [config, socketPath, port, logPath] = process.argv.slice(2);
execFileSync("ip", ["link", "set", "lo", "up"]);
const log = openSync(logPath, "a");
const orthanc = spawn("/usr/sbin/Orthanc", [config], { stdio: ["ignore", log, log] });

const relay = createServer((client) => {
  const upstream = connect(Number(port), "127.0.0.1");
  client.pipe(upstream).pipe(client);
  upstream.on("error", () => client.destroy());
  client.on("error", () => upstream.destroy());
});
relay.listen(socketPath, () => process.stdout.write("listening\n"));

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  relay.close();
  orthanc.kill("SIGTERM");
  setTimeout(() => orthanc.kill("SIGKILL"), 5000).unref();
}
orthanc.on("exit", (code) => process.exit(stopping ? 0 : (code ?? 1)));
process.stdin.on("end", stop).on("error", stop).resume();
process.on("SIGTERM", stop);
