// Official socket.io-client sockets that reconnect, for ../drain_test.go.
//
// Usage: node drain.mjs URL WEBSOCKETS POLLINGS
//
// Opens WEBSOCKETS sockets with transports ["websocket"] and POLLINGS with
// transports ["polling"], each its own Manager (forceNew) with reconnection
// on and short, fixed delays. Prints one JSON object per line, "t" being
// Date.now() in milliseconds:
//
//   {"ev":"connect","client":i,"id":..,"transport":..,"t":..}
//   {"ev":"disconnect","client":i,"reason":..,"t":..}
//   {"ev":"connect_error","client":i,"message":..,"t":..}
//   {"ev":"event","client":i,"id":..,"name":..,"args":[..]}
//   {"ev":"fail","message":..}                      anything else (exit 1)
//
// It closes every socket and exits once stdin closes.
import { io } from "socket.io-client";

const [url, ws, polling] = process.argv.slice(2);

function out(ev, fields = {}) {
  process.stdout.write(JSON.stringify({ ev, ...fields }) + "\n");
}

function fail(err) {
  out("fail", { message: String((err && err.stack) || err) });
  process.exit(1);
}
process.on("uncaughtException", fail);
process.on("unhandledRejection", fail);

const sockets = [];
const kinds = [...Array(Number(ws)).fill("websocket"), ...Array(Number(polling)).fill("polling")];
kinds.forEach((transport, client) => {
  const s = io(url, {
    forceNew: true,
    transports: [transport],
    reconnection: true,
    reconnectionDelay: 100,
    reconnectionDelayMax: 300,
    randomizationFactor: 0,
    timeout: 3000,
  });
  s.on("connect", () => out("connect", { client, id: s.id, transport: s.io.engine.transport.name, t: Date.now() }));
  s.on("disconnect", (reason) => out("disconnect", { client, reason, t: Date.now() }));
  s.on("connect_error", (err) => out("connect_error", { client, message: err.message, t: Date.now() }));
  s.onAny((name, ...args) => out("event", { client, id: s.id, name, args }));
  sockets.push(s);
});

process.stdin.on("data", () => {});
process.stdin.on("end", () => {
  for (const s of sockets) s.close();
});
