// Many official socket.io-client connections in one process, driven by the
// cluster tests (../cluster_test.go).
//
// Commands arrive as JSON lines on stdin:
//
//   {"op":"connect","c":0,"url":"http://127.0.0.1:1234","ns":"/","auth":{...},
//    "query":{...},"transports":["websocket"],"share":3,"noAck":true}
//       connect client c to url and namespace ns (default "/"). With share,
//       the socket multiplexes the connection (Manager) of client `share`.
//       A client with noAck never answers the server's acks; the others
//       answer with ("pong", c).
//   {"op":"emit","c":0,"event":"chat","args":[...],"ack":7}
//       client c emits; with ack (any number, echoed back) the emit asks for
//       an acknowledgement and its callback's arguments are printed.
//   {"op":"disconnect","c":0}
//
// Every line printed on stdout is a JSON object {"ev": kind, "c": client,
// ...}; binary values are {"$bin": base64}:
//
//   ready                              the script listens for commands
//   connect      sid                   the socket connected, sid = socket.id
//   connect_error message
//   disconnect   reason, message (the transport's error, if any)
//   event        event, args, asked    an event from the server; asked when
//                                      it wanted an ack
//   acked        event                 the client answered that server ack
//   ack          id, args              the server answered emit ack id
//   error        message               a command could not be run
//
// The script exits when stdin closes, after disconnecting every client.
import { io } from "socket.io-client";
import readline from "node:readline";

const clients = new Map();

function enc(v) {
  if (v instanceof ArrayBuffer) v = new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return { $bin: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64") };
  if (Array.isArray(v)) return v.map(enc);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, enc(x)]));
  return v;
}

// dec turns {"$bin": base64} back into a Buffer, so that clients can send
// binary too.
function dec(v) {
  if (Array.isArray(v)) return v.map(dec);
  if (v && typeof v === "object") {
    if (typeof v.$bin === "string" && Object.keys(v).length === 1) return Buffer.from(v.$bin, "base64");
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, dec(x)]));
  }
  return v;
}

function out(ev, c, fields = {}) {
  process.stdout.write(JSON.stringify({ ev, c, ...enc(fields) }) + "\n");
}

function connect(cmd) {
  if (clients.has(cmd.c)) throw new Error(`client ${cmd.c} exists`);
  const ns = cmd.ns || "/";
  let socket;
  if (cmd.share !== undefined) {
    const other = clients.get(cmd.share);
    if (!other) throw new Error(`no client ${cmd.share} to share`);
    socket = other.io.socket(ns, { auth: cmd.auth || {} });
  } else {
    const opts = { forceNew: true, reconnection: false, auth: cmd.auth || {} };
    if (cmd.transports) opts.transports = cmd.transports;
    if (cmd.query) opts.query = cmd.query;
    socket = io(cmd.url + (ns === "/" ? "" : ns), opts);
  }
  clients.set(cmd.c, socket);
  socket.on("connect", () => out("connect", cmd.c, { sid: socket.id }));
  socket.on("connect_error", (err) => out("connect_error", cmd.c, { message: err.message }));
  socket.on("disconnect", (reason, details) =>
    out("disconnect", cmd.c, { reason, message: details ? String(details.message || details.description || "") : "" }),
  );
  socket.onAny((event, ...args) => {
    const cb = typeof args[args.length - 1] === "function" ? args.pop() : null;
    out("event", cmd.c, { event, args, asked: cb !== null });
    if (cb && !cmd.noAck) {
      cb("pong", cmd.c);
      out("acked", cmd.c, { event });
    }
  });
  if (!socket.connected && !socket.active) socket.connect();
}

function emit(cmd) {
  const socket = clients.get(cmd.c);
  if (!socket) throw new Error(`no client ${cmd.c}`);
  const args = dec(cmd.args || []);
  if (cmd.ack === undefined) {
    socket.emit(cmd.event, ...args);
    return;
  }
  socket.emit(cmd.event, ...args, (...res) => out("ack", cmd.c, { id: cmd.ack, args: res }));
}

function run(cmd) {
  switch (cmd.op) {
    case "connect":
      return connect(cmd);
    case "emit":
      return emit(cmd);
    case "disconnect": {
      const socket = clients.get(cmd.c);
      if (!socket) throw new Error(`no client ${cmd.c}`);
      socket.disconnect();
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
