// The page of the original Flask app, unchanged in what it does: it
// connects on its own origin at /ws/socket.io with the original's
// reconnection options, and logs every "message" event (and the channels
// it listens to) in #log. Without a session the connect hook refuses it
// with "unauthorized!", which connect_error shows.
const socket = io({ path: "/ws/socket.io", reconnection: true, reconnectionDelay: 1000, reconnectionDelayMax: 5000 });
const channels = ["message", "news"];

const status = document.getElementById("status");
const log = document.getElementById("log");

function append(text) {
  const p = document.createElement("p");
  p.textContent = text;
  log.appendChild(p);
}

function show(body) {
  return typeof body === "string" ? body : JSON.stringify(body);
}

for (const channel of channels) {
  socket.on(channel, (body) => append(channel + ": " + show(body)));
}
socket.on("connect", () => { status.textContent = "connected as " + socket.id; });
socket.on("disconnect", (reason) => { status.textContent = "disconnected: " + reason; });
socket.on("connect_error", (err) => {
  // A refusal by the server is not retried by socket.io-client; the page
  // asks again when the user logs in (the form reloads it).
  status.textContent = "refused: " + err.message;
});
