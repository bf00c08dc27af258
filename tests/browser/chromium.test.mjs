// headroom in headless Chromium: a page imports the installed package (its
// "browser" export, which streams the .wasm) and sends a burst cross-origin
// to the mock API.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { chromium } from "playwright-core";
import { startMockApi } from "../../mock/api.mjs";

const root = process.cwd(); // the consumer project: node_modules/headroom and tests/
const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm" };
const rateLimitHeaders = ["requests", "input-tokens", "output-tokens"]
  .flatMap((d) => ["limit", "remaining", "reset"].map((f) => `anthropic-ratelimit-${d}-${f}`))
  .join(", ");

let site;
let browser;

before(async () => {
  site = http.createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname));
    try {
      const body = await readFile(join(root, path));
      res.writeHead(200, { "content-type": types[extname(path)] ?? "application/octet-stream" });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((resolve) => site.listen(0, "127.0.0.1", resolve));
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  await new Promise((resolve) => (site ? site.close(resolve) : resolve()));
});

async function runPage(api, calls) {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  try {
    const origin = `http://127.0.0.1:${site.address().port}`;
    await page.goto(`${origin}/tests/browser/page.html?api=${encodeURIComponent(api.url)}&calls=${calls}`);
    await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 60_000 });
    const result = await page.evaluate(() => window.__result);
    assert.deepEqual(errors, []);
    assert.equal(result.error, undefined, result.error);
    return result;
  } finally {
    await page.close();
  }
}

test("a page imports headroom and runs a burst within the limit", async () => {
  const api = await startMockApi({
    limits: { requestsPerMinute: 6 },
    windowMs: 1500,
    latencyMs: 20,
    headers: { "access-control-allow-origin": "*", "access-control-expose-headers": `${rateLimitHeaders}, date` },
  });
  try {
    const result = await runPage(api, 12);
    assert.deepEqual(result.statuses, Array(12).fill(200));
    assert.equal(api.stats().refused, 0, "no call ran into a 429");
    assert.ok(api.stats().peakInFlight <= 2);
    const requests = result.snapshot.partitions[0].dimensions.find((d) => d.name === "requests");
    assert.equal(requests.limit, 6, "the exposed headers were read");
    assert.deepEqual(result.refusal, { isHeadroomError: true, code: "COST_EXCEEDS_LIMIT" });
  } finally {
    await api.close();
  }
});

test("when the server does not expose its rate-limit headers, calls still complete", async () => {
  const api = await startMockApi({ latencyMs: 5, headers: { "access-control-allow-origin": "*" } });
  try {
    const result = await runPage(api, 6);
    assert.deepEqual(result.statuses, Array(6).fill(200));
    assert.deepEqual(result.snapshot.partitions[0].dimensions, [], "nothing was visible to read");
    assert.equal(result.snapshot.counters.dispatched, 6);
  } finally {
    await api.close();
  }
});
