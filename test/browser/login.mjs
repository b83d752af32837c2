// Drives the login example's page (examples/login/static) in headless
// Chromium (Debian's /usr/bin/chromium, through playwright-core) for
// login_test.go. One page; it reads one JSON command a line on stdin and
// answers each with one JSON line on stdout; what the browser reports by
// itself (page errors, failed requests) comes as lines too. It exits when
// stdin ends.
//
//   {"cmd":"open"}                → {"event":"opened","status":…,"lines":[…]}
//       (once #status shows "connected as …" or "refused: …")
//   {"cmd":"state"}               → {"event":"state","status":…,"lines":[…],"frames":[…],"sockets":n}
//       (frames: every Engine.IO payload the page received, polling
//        bodies and WebSocket frames; sockets: handshakes it made)
//   {"cmd":"login","user":"ann"}  → {"event":"loggedin","status":…,"sid":…,"lines":[…]}
//   {"cmd":"wait","text":"message: Hi"} → {"event":"saw","lines":[…]}
//       (once a line of #log is text)
//   {"cmd":"shot","path":"…png"}  → {"event":"shot"}
// A command that fails answers {"event":"error","cmd":…,"message":…}.
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const [url] = process.argv.slice(2);
const say = (o) => process.stdout.write(JSON.stringify(o) + "\n");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const context = await browser.newContext();
const page = await context.newPage();
const frames = [];
let handshakes = 0;
page.on("pageerror", (err) => say({ event: "pageerror", message: String(err) }));
page.on("response", async (r) => {
  if (r.status() >= 400) say({ event: "httperror", message: `${r.status()} ${r.url()}` });
  if (!r.url().includes("/ws/socket.io/") || r.request().method() !== "GET") return;
  if (!new URL(r.url()).searchParams.get("sid")) handshakes++;
  try { frames.push(await r.text()); } catch { /* an upgrade or a page that went away */ }
});
page.on("requestfailed", (r) => say({ event: "httperror", message: `${r.failure()?.errorText} ${r.url()}` }));
page.on("console", (m) => { if (m.type() === "error") say({ event: "consoleerror", message: m.text() }); });
page.on("websocket", (ws) => {
  if (!new URL(ws.url()).searchParams.get("sid")) handshakes++;
  ws.on("framereceived", (f) => frames.push(String(f.payload)));
});

const lines = () => page.$$eval("#log p", (ps) => ps.map((p) => p.textContent));
const status = () => page.textContent("#status");
const settled = () => page.waitForFunction(() => /^(connected as|refused:)/.test(document.getElementById("status").textContent),
  null, { timeout: 15000, polling: 50 });

async function run(c) {
  switch (c.cmd) {
    case "open":
      await page.goto(url);
      await settled();
      return { event: "opened", status: await status(), lines: await lines() };
    case "state":
      return { event: "state", status: await status(), lines: await lines(), frames, sockets: handshakes };
    case "login":
      await page.fill("#user", c.user);
      await Promise.all([page.waitForURL(url, { waitUntil: "load" }), page.click("#login input[type=submit]")]);
      await settled();
      return { event: "loggedin", status: await status(), sid: await page.evaluate(() => socket.id || ""), lines: await lines() };
    case "wait":
      await page.waitForFunction((text) => [...document.querySelectorAll("#log p")].some((p) => p.textContent === text),
        c.text, { timeout: c.timeout || 15000, polling: 50 });
      return { event: "saw", lines: await lines() };
    case "shot":
      await page.screenshot({ path: c.path, fullPage: true });
      return { event: "shot" };
    default:
      throw new Error(`unknown command ${c.cmd}`);
  }
}

try {
  for await (const line of createInterface({ input: process.stdin })) {
    let c;
    try {
      c = JSON.parse(line);
      say(await run(c));
    } catch (err) {
      say({ event: "error", cmd: c?.cmd, message: String(err) });
    }
  }
} finally {
  await browser.close();
}
