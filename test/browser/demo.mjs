// Drives the demo page in headless Chromium (Debian's /usr/bin/chromium,
// through playwright-core): waits until the page shows it is connected,
// reports its sid, then waits for the event the Go test emits through the
// control API to appear on the page, and takes a screenshot.
import { chromium } from "playwright-core";

const [url, screenshot] = process.argv.slice(2);
const say = (o) => console.log(JSON.stringify(o));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  page.on("pageerror", (err) => say({ event: "pageerror", message: String(err) }));
  // Every request the page makes must succeed: a 404 (a missing favicon,
  // say) shows as an error in the browser's console.
  page.on("response", (r) => { if (r.status() >= 400) say({ event: "httperror", message: `${r.status()} ${r.url()}` }); });
  page.on("requestfailed", (r) => say({ event: "httperror", message: `${r.failure()?.errorText} ${r.url()}` }));
  page.on("console", (m) => { if (m.type() === "error") say({ event: "pageerror", message: m.text() }); });
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("status").textContent === "connected", null, { timeout: 10000 });
  say({ event: "connected", sid: await page.textContent("#sid"), transport: await page.textContent("#transport") });
  await page.waitForFunction(() => document.getElementById("log").textContent.includes('chat ["hi",{"n":1}]'), null, { timeout: 10000 });
  if (screenshot) await page.screenshot({ path: screenshot });
  say({ event: "received", log: await page.textContent("#log") });
} finally {
  await browser.close();
}
