// Drives the broker's page (GET /) in Debian's chromium, headless, with playwright-core.
// Run by tests/broker/browser.rs as: node sse_page.mjs <http addr> <resp addr>
//
// 1. Open the page; wait until its EventSource is open.
// 2. PUBLISH five messages over RESP (a raw socket: what redis-cli would send).
// 3. Every pane (polling, long polling, SSE) shows all five, in order.
// 4. Drop the server side of every SSE stream (POST /admin/drop-streams), publish five more
//    while the browser is disconnected, and check that EventSource reconnects with
//    Last-Event-ID and the SSE pane ends with exactly ids 1..10: nothing missed, nothing twice.
import net from "node:net";
import { chromium } from "playwright-core";

const [httpAddr, respAddr] = process.argv.slice(2);
if (!httpAddr || !respAddr) {
  console.error("usage: node sse_page.mjs HTTP_ADDR RESP_ADDR");
  process.exit(2);
}
const overall = setTimeout(() => { console.error("FAIL: timed out"); process.exit(1); }, 60_000);

function resp(addr) {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(":")), Number(addr.slice(addr.lastIndexOf(":") + 1))];
  const sock = net.connect(port, host);
  let buf = "";
  const waiting = [];
  sock.on("data", (d) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf("\r\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 2);
      waiting.shift()?.(line);
    }
  });
  const bulk = (s) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
  return {
    command(...args) {
      return new Promise((ok) => {
        waiting.push(ok);
        sock.write(`*${args.length}\r\n` + args.map(bulk).join(""));
      });
    },
    close() { sock.end(); },
  };
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => console.error("page error:", e.message));
  await page.goto(`http://${httpAddr}/`);
  await page.waitForFunction(() => document.querySelector("#sse [data-k=state]").textContent.startsWith("open"));

  const redis = resp(respAddr);
  for (let i = 1; i <= 5; i++) {
    const reply = await redis.command("PUBLISH", "demo", `m${i}`);
    if (!reply.startsWith(":")) throw new Error("PUBLISH answered " + reply);
  }
  const shown = (pane) => page.evaluate((p) => [...document.querySelectorAll(`#${p} ol li:not(.note)`)].map((li) => li.textContent), pane);
  for (const pane of ["sse", "longpoll", "poll"]) {
    await page.waitForFunction((p) => document.querySelectorAll(`#${p} ol li:not(.note)`).length >= 5, pane, { timeout: 10_000 });
    const got = await shown(pane);
    if (got.join(",") !== "m1,m2,m3,m4,m5") throw new Error(`${pane} pane shows ${got}`);
  }
  console.log("OK all three panes got m1..m5");

  const dropped = await (await fetch(`http://${httpAddr}/admin/drop-streams`, { method: "POST", body: "" })).json();
  if (dropped.dropped < 1) throw new Error("no stream dropped: " + JSON.stringify(dropped));
  for (let i = 6; i <= 10; i++) await redis.command("PUBLISH", "demo", `m${i}`);
  redis.close();

  await page.waitForFunction(() => document.querySelectorAll("#sse ol li:not(.note)").length >= 10, null, { timeout: 15_000 });
  const ids = await page.evaluate(() => [...document.querySelectorAll("#sse ol li:not(.note)")].map((li) => Number(li.dataset.id)));
  const dups = await page.evaluate(() => window.panes.sse.duplicates);
  if (ids.join(",") !== "1,2,3,4,5,6,7,8,9,10") throw new Error("SSE pane ids after reconnect: " + ids);
  if (dups !== 0) throw new Error(`the server resent ${dups} message(s) the page already had`);
  const stats = await (await fetch(`http://${httpAddr}/stats`)).json();
  if (stats.http.sse_resumed < 1) throw new Error("EventSource did not reconnect with Last-Event-ID: " + JSON.stringify(stats.http));
  console.log(`OK SSE reconnected with Last-Event-ID (${stats.http.sse_resumed} resume(s)); ids 1..10, none twice`);
} finally {
  await browser.close();
  clearTimeout(overall);
}
