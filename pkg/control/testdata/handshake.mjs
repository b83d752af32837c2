// One official socket.io-client connection whose CONNECT waits, for the
// handshake tests (../handshake_test.go).
//
// Usage: node handshake.mjs URL DELAY_MS HEADERS_JSON [AUTH_JSON]
//
// Opens the Engine.IO connection (long-polling) with HEADERS_JSON as extra
// request headers, then waits DELAY_MS before it connects to "/" (with
// AUTH_JSON as its auth payload, when given). Prints
// one JSON object per line:
//
//   {"ev":"open","at":ms}           the Engine.IO connection is open
//   {"ev":"connect","sid":..,"at":ms} the socket connected to "/"
//   {"ev":"fail","message":..}      something went wrong (exit status 1)
//
// at is Date.now(). The script disconnects and exits when stdin closes.
import { Manager } from "socket.io-client";

const [url, delay, headers, auth] = process.argv.slice(2);

function out(ev, fields = {}) {
  process.stdout.write(JSON.stringify({ ev, ...fields }) + "\n");
}

function fail(err) {
  out("fail", { message: String((err && err.stack) || err) });
  process.exit(1);
}

const manager = new Manager(url, {
  transports: ["polling"],
  reconnection: false,
  autoConnect: false,
  extraHeaders: JSON.parse(headers),
});
let socket;
manager.open((err) => {
  if (err) return fail(err);
  out("open", { at: Date.now() });
  setTimeout(() => {
    socket = manager.socket("/", auth ? { auth: JSON.parse(auth) } : {});
    socket.on("connect", () => out("connect", { sid: socket.id, at: Date.now() }));
    socket.on("connect_error", fail);
    socket.connect();
  }, Number(delay));
});

process.stdin.on("data", () => {});
process.stdin.on("end", () => {
  if (socket) socket.disconnect();
  setTimeout(() => process.exit(0), 100);
});
process.on("uncaughtException", fail);
