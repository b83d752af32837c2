// The page of Flask-SocketIO's example app, unchanged in what it sends and
// receives: namespace /test, my_event / my_response, the siblings.
const socket = io("/test");
const log = document.getElementById("log");
const add = (text) => {
  const p = document.createElement("p");
  p.textContent = text;
  log.appendChild(p);
};
socket.on("my_response", (msg, cb) => {
  add(`${msg.count} Received: ${msg.data}`);
  if (cb) cb();
});
const pings = [];
setInterval(() => {
  const start = Date.now();
  socket.emit("my_ping", () => {
    pings.push(Date.now() - start);
    pings.splice(0, pings.length - 30);
    const sum = pings.reduce((a, b) => a + b, 0);
    document.getElementById("ping-pong").textContent = String(Math.round(10 * sum / pings.length) / 10);
  });
}, 1000);
const form = (id, fn) => document.getElementById(id).addEventListener("submit", (ev) => { ev.preventDefault(); fn(); });
const val = (id) => document.getElementById(id).value;
form("emit", () => socket.emit("my_event", { data: val("emit_data") }));
form("broadcast", () => socket.emit("my_broadcast_event", { data: val("broadcast_data") }));
form("join", () => socket.emit("join", { room: val("join_room") }));
form("leave", () => socket.emit("leave", { room: val("leave_room") }));
form("send_room", () => socket.emit("my_room_event", { room: val("room_name"), data: val("room_data") }));
form("disconnect", () => socket.emit("disconnect_request"));
