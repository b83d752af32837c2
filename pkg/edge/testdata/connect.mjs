// Connects to the namespaces of SB_NAMESPACES (comma-separated, default "/")
// over one Manager, with the auth payload SB_AUTH (JSON), and reports each
// outcome: "connect" {nsp, id} or "connect_error" {nsp, message, data}. With
// default transports it waits for the upgrade. Each connected socket then
// emits "ready" with an ack and reports it ("ready" {nsp, ack}), and
// disconnects.
import { io } from "socket.io-client";
import { url, options, out, finish, maybeUpgraded, ack } from "./common.mjs";

const namespaces = (process.env.SB_NAMESPACES || "/").split(",");
const extra = process.env.SB_AUTH ? { auth: JSON.parse(process.env.SB_AUTH) } : {};

const sockets = namespaces.map((nsp) => io(nsp === "/" ? url : url + nsp, options(extra)));
const ok = await Promise.all(
  sockets.map(
    (s, i) =>
      new Promise((resolve) => {
        s.once("connect", () => {
          out("connect", { nsp: namespaces[i], id: s.id });
          resolve(true);
        });
        s.once("connect_error", (err) => {
          out("connect_error", { nsp: namespaces[i], message: err.message, data: err.data });
          resolve(false);
        });
      }),
  ),
);
const live = sockets.filter((_, i) => ok[i]);
if (live.length > 0) await maybeUpgraded(live[0]);
for (const s of live) {
  out("ready", { nsp: s.nsp, ack: await ack(s, "ready") });
}
for (const s of sockets) s.disconnect();
finish();
