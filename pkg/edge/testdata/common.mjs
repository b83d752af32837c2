// Shared helpers of the end-to-end client scripts (see ../e2e_test.go).
//
// Environment: SB_URL (http://host:port), SB_PATH (Socket.IO path, optional),
// SB_TRANSPORTS ("polling", "websocket", or empty for the client's default:
// polling then upgrade), SB_TIMEOUT_MS (whole-script deadline, default 8000).
//
// Scripts print one JSON object per line on stdout, {"ev": name, ...};
// binary values are written as {"$bin": base64}. They end with {"ev":"end"}
// and exit 0, or print {"ev":"fail"} and exit 1. A script closes its sockets
// and lets Node exit by itself once the event loop is empty: exiting at once
// could cut a DISCONNECT or an Engine.IO close still in flight.

export const url = process.env.SB_URL;
export const transports = process.env.SB_TRANSPORTS ? process.env.SB_TRANSPORTS.split(",") : undefined;
const path = process.env.SB_PATH || undefined;

if (!url) {
  process.stderr.write("SB_URL is not set\n");
  process.exit(2);
}

// enc makes a value printable as JSON: binary becomes {"$bin": base64}.
export function enc(v) {
  if (v instanceof ArrayBuffer) v = new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return { $bin: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64") };
  if (Array.isArray(v)) return v.map(enc);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, enc(x)]));
  return v;
}

export function out(ev, fields = {}) {
  process.stdout.write(JSON.stringify({ ev, ...enc(fields) }) + "\n");
}

export function fail(err) {
  out("fail", { message: String(err && err.stack ? err.stack : err) });
  process.exit(1);
}

export function finish() {
  out("end");
}

process.on("unhandledRejection", fail);
process.on("uncaughtException", fail);
setTimeout(() => fail("timeout"), Number(process.env.SB_TIMEOUT_MS || 8000)).unref();

// options returns client options for the test's path and transports;
// reconnection is off unless extra turns it on.
export function options(extra = {}) {
  const o = { reconnection: false, ...extra };
  if (path) o.path = path;
  if (transports) o.transports = transports;
  return o;
}

// connected resolves when the socket connects and rejects on connect_error.
export function connected(socket) {
  if (socket.connected) return Promise.resolve(socket);
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

// upgraded resolves with the transport once the connection runs on WebSocket.
export function upgraded(socket) {
  const engine = socket.io.engine;
  if (engine.transport.name === "websocket") return Promise.resolve("websocket");
  return new Promise((resolve) => engine.once("upgrade", (t) => resolve(t.name)));
}

// maybeUpgraded waits for the upgrade when the client runs with its default
// transports, and reports it.
export async function maybeUpgraded(socket) {
  if (!transports) out("upgrade", { transport: await upgraded(socket) });
}

// ack emits with an acknowledgement and resolves with all its arguments.
export function ack(socket, event, ...args) {
  return new Promise((resolve, reject) => {
    socket.timeout(5000).emit(event, ...args, (err, ...res) => (err ? reject(err) : resolve(res)));
  });
}

// once resolves with the arguments of the next such event.
export function once(emitter, event) {
  return new Promise((resolve) => emitter.once(event, (...args) => resolve(args)));
}
