// The official socket.io-client against an edge, for the Python example's
// test (../python_test.go): node client.mjs URL N
//
// Two sockets, "a" then "b", connect to URL and each emits "join"
// {room: "lobby"} with an ack, one after the other; then "a" emits N "ask"
// {room: "lobby", n} with ack callbacks, without waiting for them. Every
// event a socket receives is printed; one that asks for an ack ("reply")
// is answered with ("thanks", n).
//
// Every line on stdout is a JSON object {"who": "a"|"b", "ev": kind, ...}:
//   connect  sid              the socket connected
//   event    event, args      an event from the server
//   ack      event, n, args   the server answered the socket's emit (n for an
//                             "ask"), or err when it did not in time
//   error    message          the scenario failed
// The sockets disconnect and the script exits when stdin closes.
import { io } from "socket.io-client";

const [url, count] = process.argv.slice(2);
const N = Number(count);

function out(who, ev, fields = {}) {
  process.stdout.write(JSON.stringify({ who, ev, ...fields }) + "\n");
}

function open(who) {
  const socket = io(url, { forceNew: true, reconnection: false });
  socket.onAny((event, ...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    out(who, "event", { event, args });
    if (ack) ack("thanks", args[0]?.n);
  });
  socket.on("disconnect", (reason) => out(who, "disconnect", { reason }));
  return new Promise((resolve, reject) => {
    socket.once("connect", () => {
      out(who, "connect", { sid: socket.id });
      resolve(socket);
    });
    socket.once("connect_error", reject);
  });
}

const sockets = [];
process.stdin.on("end", () => {
  for (const s of sockets) s.disconnect();
});
process.stdin.resume();

try {
  for (const who of ["a", "b"]) {
    const socket = await open(who);
    sockets.push(socket);
    const reply = await socket.timeout(5000).emitWithAck("join", { room: "lobby" });
    out(who, "ack", { event: "join", args: [reply] });
  }
  for (let n = 0; n < N; n++) {
    sockets[0].timeout(5000).emit("ask", { room: "lobby", n }, (err, ...args) =>
      out("a", "ack", err ? { event: "ask", n, err: err.message } : { event: "ask", n, args }),
    );
  }
} catch (err) {
  out("", "error", { message: String(err && err.message) });
}
