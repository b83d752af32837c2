// The canary of the hostile-input suite (../stack_test.go): one official
// socket.io-client connection to an edge, which reports every event it
// receives, so that the suite can tell whether honest clients still get
// their messages while an attacker does its worst.
//
//   node canary.mjs <edge url>
//
// It prints one JSON line per happening on stdout:
//
//   {"ev":"connect","sid":"..."}          connected to "/", sid = socket.id
//   {"ev":"seq","seq":N,"t":MS}           received event "seq" with {seq: N},
//                                         at MS (Date.now(), milliseconds)
//   {"ev":"connect_error","message":"..."}
//   {"ev":"disconnect","reason":"..."}
//
// It never reconnects: a disconnect is something the suite must see. It
// exits when its stdin closes, after disconnecting.
import { io } from "socket.io-client";

const url = process.argv[2];
if (!url) {
  process.stderr.write("usage: node canary.mjs <edge url>\n");
  process.exit(2);
}

function out(fields) {
  process.stdout.write(JSON.stringify(fields) + "\n");
}

const socket = io(url, { forceNew: true, reconnection: false });
socket.on("connect", () => out({ ev: "connect", sid: socket.id }));
socket.on("connect_error", (err) => out({ ev: "connect_error", message: String(err && err.message) }));
socket.on("disconnect", (reason) => out({ ev: "disconnect", reason }));
socket.on("seq", (arg) => out({ ev: "seq", seq: arg && arg.seq, t: Date.now() }));

process.stdin.resume();
process.stdin.on("end", () => {
  socket.disconnect();
  // Let the DISCONNECT packet go out, then leave.
  setTimeout(() => process.exit(0), 100);
});
