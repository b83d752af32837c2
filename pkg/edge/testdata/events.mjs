// Events, acks, binary, unicode and large messages, both ways.
//
// The server is expected to emit "server-event" and "server-ask" (with an
// ack) on connect, then "server-big" and "bye" once "server-ask" is
// answered. The client emits "echo", "client-event" and "client-big" with
// acks, and finally "done" (the server acks with its transport).
// SB_BIG_REPEAT sets the size of the large strings (BIG_UNIT repeated).
import { io } from "socket.io-client";
import { url, options, out, finish, connected, maybeUpgraded, ack, once } from "./common.mjs";

const BIG_UNIT = "big-é-🌍-";
const big = BIG_UNIT.repeat(Number(process.env.SB_BIG_REPEAT || 1000));

const socket = io(url, options());
socket.on("server-event", (...args) => out("server-event", { args }));
socket.on("server-ask", (...args) => {
  const cb = args.pop();
  out("server-ask", { args });
  cb("réponse ✓", Buffer.from([9, 8, 7]), { nested: { bin: new Uint8Array([6, 5]) }, list: [Buffer.from("xyz")] });
});
socket.on("server-big", (s) => out("server-big", { length: s.length, equal: s === big }));
const bye = once(socket, "bye");

await connected(socket);
out("connect", { id: socket.id });
await maybeUpgraded(socket);

const sent = [
  "héllo wörld 🌍 日本",
  Buffer.from([1, 2, 3]),
  { nested: { bin: new Uint8Array([4, 5, 6]), s: "ü" }, arr: [Buffer.from([7]), 8] },
  42,
  null,
  true,
];
out("echo", { args: await ack(socket, "echo", ...sent) });
out("client-event", { args: await ack(socket, "client-event", ...sent) });
out("client-big", { args: await ack(socket, "client-big", big) });
await bye;
out("done", { args: await ack(socket, "done") });
socket.disconnect();
finish();
