// Official socket.io-client connections for the API tests (../api_test.go),
// which compare JSON as text: every Socket.IO packet a client receives is
// printed as the text that came over the wire, before socket.io-client
// parses it (JSON.parse would round 12345678901234567890), and a client can
// send a packet as raw text, which socket.io-client's JSON.stringify could
// not produce.
//
// Commands arrive as JSON lines on stdin:
//
//   {"op":"connect","c":0,"url":"http://127.0.0.1:1234","ns":"/","auth":{...},
//    "transports":["websocket"],"ackRaw":"[1,2]"}
//       connect client c to url and namespace ns (default "/"), over
//       WebSocket only. A client with ackRaw answers every event that asks
//       for an ack with an ACK packet whose arguments are that text, sent
//       as it is; the others do not answer.
//   {"op":"raw","c":0,"text":"2[\"ev\",1]"}
//       client c sends text as one Socket.IO packet (an Engine.IO message).
//   {"op":"emit","c":0,"event":"ev","args":[...]}
//       client c emits with socket.io-client.
//
// Every line printed on stdout is a JSON object {"ev": kind, "c": client,
// ...}:
//
//   ready                   the script listens for commands
//   connect      sid        the socket connected, sid = socket.id
//   connect_error message
//   disconnect   reason
//   packet       text       a Socket.IO packet as received, e.g. 2["ev",1]
//   acked        text       the ACK packet the client sent
//   error        message    a command could not be run
//
// The script exits when stdin closes, after disconnecting every client.
import { io } from "socket.io-client";
import readline from "node:readline";

const clients = new Map();

function out(ev, c, fields = {}) {
  process.stdout.write(JSON.stringify({ ev, c, ...fields }) + "\n");
}

// eventAck matches an EVENT packet of namespace "/" that asks for an ack:
// 2<id>[...].
const eventAck = /^2(\d+)\[/;

function connect(cmd) {
  if (clients.has(cmd.c)) throw new Error(`client ${cmd.c} exists`);
  const ns = cmd.ns || "/";
  const socket = io(cmd.url + (ns === "/" ? "" : ns), {
    forceNew: true,
    reconnection: false,
    transports: ["websocket"],
    auth: cmd.auth || {},
  });
  clients.set(cmd.c, socket);
  socket.io.on("open", () => {
    socket.io.engine.on("packet", (p) => {
      if (p.type !== "message" || typeof p.data !== "string") return;
      out("packet", cmd.c, { text: p.data });
      const m = eventAck.exec(p.data);
      if (m && cmd.ackRaw !== undefined && ns === "/") {
        const text = "3" + m[1] + cmd.ackRaw;
        socket.io.engine.send(text);
        out("acked", cmd.c, { text });
      }
    });
  });
  socket.on("connect", () => out("connect", cmd.c, { sid: socket.id }));
  socket.on("connect_error", (err) => out("connect_error", cmd.c, { message: err.message }));
  socket.on("disconnect", (reason) => out("disconnect", cmd.c, { reason }));
}

function client(c) {
  const socket = clients.get(c);
  if (!socket) throw new Error(`no client ${c}`);
  return socket;
}

function run(cmd) {
  switch (cmd.op) {
    case "connect":
      return connect(cmd);
    case "raw":
      return client(cmd.c).io.engine.send(cmd.text);
    case "emit":
      return client(cmd.c).emit(cmd.event, ...(cmd.args || []));
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
  setTimeout(() => process.exit(0), 100);
});
process.on("uncaughtException", (err) => out("error", undefined, { message: String(err.stack || err) }));
out("ready");
