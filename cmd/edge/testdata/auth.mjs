// One official socket.io-client connect attempt, for ../auth_e2e_test.go.
//
// Usage: node auth.mjs URL OPTIONS_JSON [hold]
//
// URL names the namespace (http://host:port/admin); OPTIONS_JSON is given
// to io() as it is (auth, extraHeaders, transports), with reconnection
// off. Prints one JSON object per line:
//
//   {"ev":"connect","id":..}                      connected
//   {"ev":"connect_error","message":..,"data":..} refused: err.message, err.data
//   {"ev":"event","name":..,"args":[..]}          an event, with hold
//   {"ev":"fail","message":..}                    anything else (exit 1)
//
// It exits after the connect or connect_error line; with hold, a
// connected socket stays until stdin closes.
import { io } from "socket.io-client";

const [url, options, mode] = process.argv.slice(2);
const hold = mode === "hold";

function out(ev, fields = {}) {
  process.stdout.write(JSON.stringify({ ev, ...fields }) + "\n");
}

function fail(err) {
  out("fail", { message: String((err && err.stack) || err) });
  process.exit(1);
}
process.on("uncaughtException", fail);

const socket = io(url, { ...JSON.parse(options), reconnection: false, forceNew: true });
socket.onAny((name, ...args) => out("event", { name, args }));
socket.on("connect", () => {
  out("connect", { id: socket.id });
  if (!hold) {
    socket.disconnect();
    process.exit(0);
  }
});
socket.on("connect_error", (err) => {
  out("connect_error", { message: err.message, data: err.data === undefined ? null : err.data });
  socket.disconnect();
  process.exit(0);
});
process.stdin.on("data", () => {});
process.stdin.on("end", () => {
  socket.disconnect();
  setTimeout(() => process.exit(0), 100);
});
