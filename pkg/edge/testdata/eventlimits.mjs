// A socket over its event rate, and one sending an event name over the
// limit, next to each other on one edge (../ratelimit_test.go).
//
// Two sockets, each on a connection of its own: "flooder" emits
// SB_FLOOD "flood" events at once, waits SB_REFILL_MS, then emits "after"
// with an ack; "calm" emits SB_CALM "calm" events, then an event whose
// name is SB_LONG bytes with an ack and a 500 ms timeout (the edge drops
// it: the timeout must fire), then "calm-after" with an ack. The server
// acks every event it gets with the socket's id.
import { io } from "socket.io-client";
import { url, options, out, finish, connected, ack } from "./common.mjs";

const flood = Number(process.env.SB_FLOOD);
const calmN = Number(process.env.SB_CALM);
const long = "n".repeat(Number(process.env.SB_LONG));
const refill = Number(process.env.SB_REFILL_MS);

const flooder = io(url, options({ forceNew: true }));
const calm = io(url, options({ forceNew: true }));
await Promise.all([connected(flooder), connected(calm)]);
out("connect", { flooder: flooder.id, calm: calm.id });

for (let i = 0; i < flood; i++) flooder.emit("flood", i);
for (let i = 0; i < calmN; i++) calm.emit("calm", i);

const dropped = await new Promise((resolve) => {
  calm.timeout(500).emit(long, 1, (err) => resolve(Boolean(err)));
});
out("long", { timedOut: dropped });
out("calm-after", { args: await ack(calm, "calm-after") });

await new Promise((r) => setTimeout(r, refill));
out("flooder-after", { args: await ack(flooder, "after") });
out("state", { flooder: flooder.connected, calm: calm.connected });
flooder.disconnect();
calm.disconnect();
finish();
