// The benchmark's main alternative: Node's socket.io 4.8 in one process
// (transports polling + websocket), the way an application would run it.
// Every socket of the main namespace joins room "bench"; namespace "/storm"
// accepts sockets that join nothing (the connect-storm clients).
//
// Loopback admin endpoints on the same port (JSON answers):
//   POST /admin/broadcast?rate=R&dur=D  io.to("bench").emit("m", payload) at R/s
//                                       (0: as fast as possible) for D ms, from an
//                                       in-process timer; answers when done
//   POST /admin/broadcast?count=C&rate=0  a burst: C emits in one synchronous
//                                       loop (dur, default 60000, is ignored)
//   POST /admin/unicast?rate=R&dur=D    io.to(<socket id>).emit, one socket at a
//                                       time round-robin
//   GET  /admin/now                     this process's clock (ms)
//   POST /admin/offset?ms=X             subtract X from every timestamp (clock
//                                       calibration against the orchestrator)
//   GET  /admin/stats                   socket counts
// The payload is {"t": <ms, µs precision>, "p": <padding>}, 100 bytes.
// Prints {"addr":"127.0.0.1:port"} when listening; exits when stdin closes or
// after --max-duration-ms.
import { createServer } from "node:http";
import { performance } from "node:perf_hooks";
import { Server } from "socket.io";

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, "").split("=");
    return [k, v ?? ""];
  }),
);
const port = Number(args.port ?? 0);
const maxDurationMs = Number(args["max-duration-ms"] ?? 600000);

const PAD = "x".repeat(70); // {"t":1732361234567.123,"p":"<70>"} is 100 bytes
let offset = 0;
const now = () => Math.round((performance.timeOrigin + performance.now() - offset) * 1000) / 1000;

const httpServer = createServer((req, res) => admin(req, res));
const io = new Server(httpServer, {
  serveClient: false,
  transports: ["polling", "websocket"],
});
io.on("connection", (socket) => socket.join("bench"));
io.of("/storm").on("connection", () => {});

let busy = false;

function admin(req, res) {
  const url = new URL(req.url, "http://127.0.0.1");
  const reply = (code, obj) => {
    res.writeHead(code, { "content-type": "application/json" });
    res.end(JSON.stringify(obj));
  };
  switch (url.pathname) {
    case "/admin/now":
      return reply(200, { now: now() });
    case "/admin/offset":
      offset += Number(url.searchParams.get("ms"));
      return reply(200, { offset });
    case "/admin/stats":
      return reply(200, {
        sockets: io.of("/").sockets.size,
        storm: io.of("/storm").sockets.size,
        engine: io.engine.clientsCount,
      });
    case "/admin/broadcast":
    case "/admin/unicast": {
      const rate = Number(url.searchParams.get("rate") ?? 0);
      const count = Number(url.searchParams.get("count") ?? 0);
      const dur = Number(url.searchParams.get("dur") ?? (count > 0 ? 60000 : NaN));
      if (busy) return reply(400, { error: "busy" });
      if (!(rate >= 0) || !(count >= 0 && count <= 1e6 && Number.isInteger(count)))
        return reply(400, { error: "want rate=<msgs/s> and count=<messages>, 0 to 1000000" });
      if (count > 0 && rate !== 0) return reply(400, { error: "count=<messages> needs rate=0" });
      if (!(dur > 0)) return reply(400, { error: "want dur=<ms> (or count=<messages>)" });
      busy = true;
      send(url.pathname === "/admin/unicast", rate, dur, count, (sent, conns) => {
        busy = false;
        reply(200, { sent, conns });
      });
      return;
    }
    default:
      return reply(404, { error: "not found" });
  }
}

// send emits at rate messages/s (0: flat out, yielding to I/O between
// batches) for dur ms, then calls done(sent); with count > 0 and rate 0 it
// emits count messages in one loop (a burst) instead.
function send(unicast, rate, dur, count, done) {
  const ids = unicast ? [...io.of("/").sockets.keys()] : null;
  const conns = unicast ? ids.length : io.of("/").adapter.rooms.get("bench")?.size ?? 0;
  if (conns === 0) return done(0, 0);
  let sent = 0;
  // A burst's messages all carry its start time, as every system's do:
  // their latency is the time since the burst was asked for.
  const burstAt = count > 0 && rate === 0 ? now() : 0;
  const emitOne = () => {
    const payload = { t: burstAt || now(), p: PAD };
    if (unicast) io.to(ids[sent % ids.length]).emit("m", payload);
    else io.to("bench").emit("m", payload);
    sent++;
  };
  if (count > 0 && rate === 0) {
    while (sent < count) emitOne();
    return done(sent, conns);
  }
  const start = performance.now();
  const end = start + dur;
  if (rate > 0) {
    let timer = null;
    let finished = false;
    const tick = () => {
      if (finished) return;
      const t = performance.now();
      if (t >= end) {
        finished = true;
        clearInterval(timer);
        return done(sent, conns);
      }
      const due = Math.floor(((t - start) / 1000) * rate) + 1;
      while (sent < due) emitOne();
    };
    timer = setInterval(tick, 1);
    tick();
  } else {
    const batch = unicast ? 64 : 1;
    const loop = () => {
      if (performance.now() >= end) return done(sent, conns);
      for (let i = 0; i < batch; i++) emitOne();
      setImmediate(loop);
    };
    loop();
  }
}

httpServer.listen({ port, host: "127.0.0.1", backlog: 4096 }, () => {
  process.stdout.write(JSON.stringify({ addr: `127.0.0.1:${httpServer.address().port}` }) + "\n");
});
process.stdin.on("end", () => process.exit(0));
process.stdin.on("close", () => process.exit(0));
process.stdin.resume();
setTimeout(() => {
  process.stderr.write("node server: --max-duration-ms reached, exiting\n");
  process.exit(3);
}, maxDurationMs);
