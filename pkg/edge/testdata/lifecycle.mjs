// Connection lifecycle scenarios, chosen by SB_SCENARIO:
//
//   kick       emit "kick-me"; expect the server to disconnect the socket
//              (reason "io server disconnect"), then check that no
//              reconnection happens within SB_QUIET_MS.
//   heartbeat  stay connected SB_STAY_MS counting engine pings, then ack
//              "still-here".
//   drop       reconnection on; emit "drop-me", expect the server to drop the
//              connection, wait for the reconnection, ack "still-here".
//   maxpayload with a bystander connected, emit "too-big" with a string of
//              SB_TOO_BIG characters, expect a disconnect; then the bystander
//              and a fresh connection ack "still-here".
import { io } from "socket.io-client";
import { url, options, out, finish, fail, connected, maybeUpgraded, ack, once } from "./common.mjs";

const delay = (ms) => new Promise((r) => setTimeout(r, ms));

const scenarios = {
  async kick() {
    const socket = io(url, options({ reconnection: true, reconnectionDelay: 20, reconnectionDelayMax: 20 }));
    let connects = 0;
    let attempts = 0;
    socket.on("connect", () => connects++);
    socket.io.on("reconnect_attempt", () => attempts++);
    await connected(socket);
    out("connect", { id: socket.id });
    await maybeUpgraded(socket);
    const gone = once(socket, "disconnect");
    socket.emit("kick-me");
    const [reason] = await gone;
    out("disconnect", { reason });
    await delay(Number(process.env.SB_QUIET_MS || 300));
    out("quiet", { connects, attempts, active: socket.active, connected: socket.connected });
  },

  async heartbeat() {
    const socket = io(url, options());
    let pings = 0;
    const disconnects = [];
    socket.io.engine.on("ping", () => pings++);
    socket.on("disconnect", (reason) => disconnects.push(reason));
    await connected(socket);
    out("connect", { id: socket.id });
    await maybeUpgraded(socket);
    await delay(Number(process.env.SB_STAY_MS || 1500));
    const res = await ack(socket, "still-here");
    out("stayed", { pings, disconnects, connected: socket.connected, ack: res });
    socket.disconnect();
  },

  async drop() {
    const socket = io(url, options({ reconnection: true, reconnectionDelay: 20, reconnectionDelayMax: 50, randomizationFactor: 0 }));
    socket.io.on("reconnect", (attempt) => out("reconnect", { attempt }));
    await connected(socket);
    out("connect", { id: socket.id });
    await maybeUpgraded(socket);
    const gone = once(socket, "disconnect");
    socket.emit("drop-me");
    const [reason] = await gone;
    out("disconnect", { reason, active: socket.active });
    await once(socket, "connect");
    out("connect", { id: socket.id });
    out("still-here", { ack: await ack(socket, "still-here") });
    socket.disconnect();
  },

  async maxpayload() {
    const bystander = io(url, options({ forceNew: true }));
    await connected(bystander);
    const socket = io(url, options({ forceNew: true }));
    await connected(socket);
    out("connect", { id: socket.id, bystander: bystander.id });
    await maybeUpgraded(socket);
    const gone = once(socket, "disconnect");
    socket.emit("too-big", "x".repeat(Number(process.env.SB_TOO_BIG || 2000)));
    const [reason] = await gone;
    out("disconnect", { reason });
    out("bystander", { connected: bystander.connected, ack: await ack(bystander, "still-here") });
    const fresh = io(url, options({ forceNew: true }));
    await connected(fresh);
    out("fresh", { ack: await ack(fresh, "still-here") });
    bystander.disconnect();
    fresh.disconnect();
  },
};

const run = scenarios[process.env.SB_SCENARIO];
if (!run) fail(`unknown SB_SCENARIO ${process.env.SB_SCENARIO}`);
await run();
finish();
