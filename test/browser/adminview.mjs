// Drives control's admin page in headless Chromium (Debian's
// /usr/bin/chromium, through playwright-core): reports what the page shows
// once it lists 2 live edges and the connections the Go test expects
// (argv[3]), then, after the Go test kills an edge, once the page shows
// an edge missing and the total down to argv[4]; then a screenshot.
import { chromium } from "playwright-core";

const [url, screenshot, before, after] = process.argv.slice(2);
const say = (o) => console.log(JSON.stringify(o));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("pageerror", (err) => say({ event: "pageerror", message: String(err) }));
  page.on("response", (r) => { if (r.status() >= 400) say({ event: "httperror", message: `${r.status()} ${r.url()}` }); });
  page.on("requestfailed", (r) => say({ event: "httperror", message: `${r.failure()?.errorText} ${r.url()}` }));
  page.on("console", (m) => { if (m.type() === "error") say({ event: "pageerror", message: m.text() }); });
  const methods = new Set();
  page.on("request", (r) => methods.add(r.method()));
  const state = () => page.evaluate(() => {
    const rows = (id) => [...document.getElementById(id).tBodies[0].rows].map((tr) => [...tr.cells].map((c) => c.textContent));
    return {
      connections: document.getElementById("connections").textContent,
      sockets: document.getElementById("sockets").textContent,
      edges: rows("edges"), rooms: rows("rooms"), namespaces: rows("namespaces"),
      generated: document.body.dataset.generatedAt || "",
      buttons: document.querySelectorAll("button, form, input").length,
    };
  });
  await page.goto(url);
  await page.waitForFunction((want) => document.getElementById("connections").textContent === want &&
    [...document.querySelectorAll("#edges tbody tr")].filter((tr) => tr.cells[1].textContent === "live").length === 2,
  before, { timeout: 20000 });
  const first = await state();
  say({ event: "loaded", ...first });
  await page.waitForFunction((want) => document.getElementById("connections").textContent === want &&
    document.querySelectorAll("#edges tbody tr.missing").length === 1,
  after, { timeout: 30000 });
  // The page polls: a refresh between the kill and now is a new overview.
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  say({ event: "after", ...(await state()), first: first.generated, methods: [...methods] });
} finally {
  await browser.close();
}
