// Official socket.io-client connections for the documentation test
// (../grpcurl_test.go), in one process driven over stdin and stdout.
//
// Commands arrive as JSON lines on stdin:
//
//   {"op":"connect","c":0,"url":"http://127.0.0.1:1234","ns":"/game","auth":{...}}
//       connect client c to namespace ns (default "/") of the edge at url,
//       with that CONNECT auth payload.
//   {"op":"emit","c":0,"event":"docs-ping","args":[1]}
//       client c emits an event.
//
// Every line printed on stdout is a JSON object {"ev": kind, "c": client, ...}:
//
//   ready                   the script listens for commands
//   connect  sid            the socket connected, sid = socket.id
//   connect_error message
//   disconnect reason
//   event    event, args    an event from the server; one that asks for an
//                           ack is answered with ("ok")
//   error    message        a command could not be run
//
// The script exits when stdin closes, after disconnecting every client.
import { io } from "socket.io-client";
import readline from "node:readline";

const clients = new Map();

function out(ev, c, fields = {}) {
  process.stdout.write(JSON.stringify({ ev, c, ...fields }) + "\n");
}

function connect(cmd) {
  if (clients.has(cmd.c)) throw new Error(`client ${cmd.c} exists`);
  const ns = cmd.ns || "/";
  const socket = io(cmd.url + (ns === "/" ? "" : ns), { forceNew: true, reconnection: false, auth: cmd.auth || {} });
  clients.set(cmd.c, socket);
  socket.on("connect", () => out("connect", cmd.c, { sid: socket.id }));
  socket.on("connect_error", (err) => out("connect_error", cmd.c, { message: err.message }));
  socket.on("disconnect", (reason) => out("disconnect", cmd.c, { reason }));
  socket.onAny((event, ...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    out("event", cmd.c, { event, args });
    if (ack) ack("ok");
  });
}

function run(cmd) {
  switch (cmd.op) {
    case "connect":
      return connect(cmd);
    case "emit": {
      const socket = clients.get(cmd.c);
      if (!socket) throw new Error(`no client ${cmd.c}`);
      socket.emit(cmd.event, ...(cmd.args || []));
      return;
    }
  }
  throw new Error(`unknown op ${cmd.op}`);
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  let cmd;
  try {
    cmd = JSON.parse(line);
    run(cmd);
  } catch (err) {
    out("error", cmd && cmd.c, { message: String(err && err.stack ? err.stack : err) });
  }
});
rl.on("close", () => {
  for (const socket of clients.values()) socket.disconnect();
  // Let the disconnect packets go out, then leave.
  setTimeout(() => process.exit(0), 100);
});
process.on("uncaughtException", (err) => out("error", undefined, { message: String(err.stack || err) }));
out("ready");
