// Drives the echo example's page (examples/echo/static) in headless
// Chromium (Debian's /usr/bin/chromium, through playwright-core) for
// echo_test.go. It reads one JSON command a line on stdin and answers each
// with one JSON line on stdout; what the browser reports by itself (page
// errors, failed requests) comes as lines too. Each page is in a browser
// context of its own, as two people's browsers. It exits when stdin ends.
//
//   {"cmd":"open","page":"a"}                    → {"event":"opened","page":"a","sid":…,"lines":[…]}
//   {"cmd":"submit","page":"a","form":"emit","fields":{"emit_data":"hi"}}
//                                                → {"event":"submitted","page":"a"}
//   {"cmd":"wait","page":"a","text":"hi","n":1}   → {"event":"saw","page":"a","sid":…,"lines":[…]}
//       (once n lines of #log read "<count> Received: <text>")
//   {"cmd":"burst","page":"a","n":200,"prefix":"b"} → {"event":"sent","page":"a"}
//       (n my_event emits at once, data prefix+i, from page.evaluate)
//   {"cmd":"gone","page":"a","text":"bye"}        → {"event":"gone","page":"a","lines":[…]}
//       (once a line reads "<count> Received: <text>" and the socket is disconnected)
//   {"cmd":"ping","page":"a"}                    → {"event":"ping","page":"a","ms":…}
//       (the average my_ping round trip the page shows, once it shows one)
//   {"cmd":"shot","page":"a","path":"…png"}      → {"event":"shot","page":"a"}
//   {"cmd":"close","page":"a"}                    → {"event":"closed","page":"a"}
// A command that fails answers {"event":"error","cmd":…,"message":…}.
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const [url] = process.argv.slice(2);
const say = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const ignoreHTTPSErrors = url.startsWith("https:");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ...(ignoreHTTPSErrors ? ["--ignore-certificate-errors"] : [])],
});
const pages = new Map();

const lines = (page) => page.$$eval("#log p", (ps) => ps.map((p) => p.textContent));
const sid = (page) => page.evaluate(() => (socket.connected ? socket.id : ""));

// waitLines waits until n lines of #log end in " Received: <text>" while
// the socket is connected.
const waitLines = (page, text, n, timeout) => page.waitForFunction(([text, n]) => {
  const suffix = " Received: " + text;
  const got = [...document.querySelectorAll("#log p")].filter((p) => p.textContent.endsWith(suffix));
  return got.length >= n && socket.connected;
}, [text, n], { timeout, polling: 50 });

async function open(name) {
  const context = await browser.newContext({ ignoreHTTPSErrors });
  const page = await context.newPage();
  const tag = (o) => say({ page: name, ...o });
  page.on("pageerror", (err) => tag({ event: "pageerror", message: String(err) }));
  // Every request the page makes must succeed while its edge lives; the
  // test says when failures are expected (an edge killed).
  page.on("response", (r) => { if (r.status() >= 400) tag({ event: "httperror", message: `${r.status()} ${r.url()}` }); });
  page.on("requestfailed", (r) => tag({ event: "httperror", message: `${r.failure()?.errorText} ${r.url()}` }));
  page.on("console", (m) => { if (m.type() === "error") tag({ event: "consoleerror", message: m.text() }); });
  pages.set(name, page);
  await page.goto(url);
  await waitLines(page, "Server connected", 1, 15000);
  return page;
}

async function run(c) {
  const page = pages.get(c.page);
  if (c.cmd !== "open" && !page) throw new Error(`no page ${c.page}`);
  switch (c.cmd) {
    case "open": {
      const p = await open(c.page);
      return { event: "opened", sid: await sid(p), lines: await lines(p) };
    }
    case "submit":
      for (const [id, v] of Object.entries(c.fields || {})) await page.fill(`#${id}`, v);
      await page.click(`#${c.form} input[type=submit]`);
      return { event: "submitted" };
    case "wait":
      await waitLines(page, c.text, c.n || 1, c.timeout || 15000);
      return { event: "saw", sid: await sid(page), lines: await lines(page) };
    case "gone": // the line came, and the socket is disconnected
      await page.waitForFunction((text) => !socket.connected &&
        [...document.querySelectorAll("#log p")].some((p) => p.textContent.endsWith(" Received: " + text)), c.text, { timeout: 15000, polling: 50 });
      return { event: "gone", lines: await lines(page) };
    case "ping": // the page's my_ping round trips, averaged, once it has one
      await page.waitForFunction(() => document.getElementById("ping-pong").textContent !== "", null, { timeout: 15000 });
      return { event: "ping", ms: Number(await page.textContent("#ping-pong")) };
    case "burst":
      await page.evaluate(([n, prefix]) => {
        for (let i = 0; i < n; i++) socket.emit("my_event", { data: prefix + i });
      }, [c.n, c.prefix]);
      return { event: "sent" };
    case "shot":
      await page.screenshot({ path: c.path, fullPage: true });
      return { event: "shot" };
    case "close":
      await page.context().close();
      pages.delete(c.page);
      return { event: "closed" };
    default:
      throw new Error(`unknown command ${c.cmd}`);
  }
}

try {
  for await (const line of createInterface({ input: process.stdin })) {
    let c;
    try {
      c = JSON.parse(line);
      say({ page: c.page, ...(await run(c)) });
    } catch (err) {
      say({ event: "error", cmd: c?.cmd, page: c?.page, message: String(err) });
    }
  }
} finally {
  await browser.close();
}
