// The official socket.io-client as a user of ../service.ts, for
// ../typescript_test.go.
//
// Usage: node client.mjs URL N
//
// It connects to URL (an edge, main namespace), emits "join" "lobby" with
// an ack callback, and once that is answered and the room's "announce"
// came, emits "work" 0..N-1, each with an ack callback, without waiting.
// It answers every "result" through the event's own ack ("got", n). It
// prints one JSON object per line, in the order things happened:
//
//   {"ev":"connect","id":..}
//   {"ev":"announce","args":[..]}
//   {"ev":"join_ack","args":[..]}        the join callback's arguments
//   {"ev":"result","args":[..]}          a "result" event (ack answered)
//   {"ev":"work_ack","n":..,"args":[..]} a work callback's arguments
//   {"ev":"done"}                        N results and N work callbacks
//   {"ev":"fail","message":..}           anything else (exit 1)
//
// It stays connected after "done", so that its last acks reach the edge,
// until stdin closes; then it disconnects and exits.
import { io } from "socket.io-client";

const [url, count] = process.argv.slice(2);
const n = Number(count);
const ackTimeout = 10000; // ms; the test's own bound is shorter

function out(ev, fields = {}) {
  process.stdout.write(JSON.stringify({ ev, ...fields }) + "\n");
}

function fail(err) {
  out("fail", { message: String((err && err.stack) || err) });
  process.exit(1);
}
process.on("uncaughtException", fail);

const socket = io(url, { reconnection: false, forceNew: true });
let announced = false;
let joined = false;
let results = 0;
let workAcks = 0;

function finishIfDone() {
  if (results === n && workAcks === n) {
    out("done");
  }
}

function startWork() {
  if (!announced || !joined) return;
  for (let i = 0; i < n; i++) {
    socket.timeout(ackTimeout).emit("work", i, (err, ...args) => {
      if (err) fail(new Error(`work ${i}: ${err.message}`));
      out("work_ack", { n: i, args });
      workAcks++;
      finishIfDone();
    });
  }
}

socket.on("connect", () => {
  out("connect", { id: socket.id });
  socket.timeout(ackTimeout).emit("join", "lobby", (err, ...args) => {
    if (err) fail(new Error(`join: ${err.message}`));
    out("join_ack", { args });
    joined = true;
    startWork();
  });
});
socket.on("connect_error", (err) => fail(new Error(`connect_error: ${err.message}`)));
socket.on("announce", (...args) => {
  out("announce", { args });
  if (!announced) {
    announced = true;
    startWork();
  }
});
socket.on("result", (...args) => {
  const ack = args.pop();
  if (typeof ack !== "function") fail(new Error(`"result" without an ack id: ${JSON.stringify(args)}`));
  out("result", { args });
  ack("got", args[0]);
  results++;
  finishIfDone();
});
socket.on("disconnect", (reason) => {
  if (reason !== "io client disconnect") fail(new Error(`disconnected: ${reason}`));
});
process.stdin.on("data", () => {});
process.stdin.on("end", () => {
  socket.disconnect();
  setTimeout(() => process.exit(0), 100);
});
