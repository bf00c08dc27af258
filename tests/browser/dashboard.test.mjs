// The live dashboard (www/) in headless Chromium, served by the same server
// as `npm run demo`: a person's burst through the page completes, and every
// chart has drawn it. Leaves a screenshot in .tmp/logs/dashboard.png.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";
import { startDemoServer } from "../../demo/server.mjs";

const root = process.cwd(); // the consumer project: www/, demo/ and node_modules/headroom
const logs = resolve(root, "..", "logs"); // .tmp/logs, next to .tmp/consumer

let server;
let browser;

before(async () => {
  server = await startDemoServer({ root });
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test("a burst started from the dashboard completes within the limits and every chart draws it", async () => {
  const page = await browser.newPage({ viewport: { width: 1240, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  try {
    await page.goto(`${server.url}/`);
    // The tight tier refilled every 2 s: 30 calls need three windows of requests.
    await page.selectOption("select[name=tier]", "tight");
    await page.selectOption("select[name=window]", "2000");
    await page.fill("input[name=calls]", "30");
    await page.selectOption("select[name=size]", "small");
    await page.click("#start");
    await page.waitForFunction(() => ["finished", "failed"].includes(window.dashboard.state), null, { timeout: 20_000 });

    const run = await page.evaluate(() => window.dashboard.run);
    assert.deepEqual(errors, []);
    assert.equal(await page.evaluate(() => window.dashboard.state), "finished", await page.textContent("#status"));
    assert.equal(run.ok, 30, "every call answered 200");
    assert.equal(run.failed, 0);
    assert.equal(run.server.admitted, 30);
    assert.equal(run.server.refused, 0, "no call ran into a 429");
    assert.equal(run.rateLimited, 0);
    assert.ok(run.elapsedMs >= run.minimumMs * 0.95, `the burst took ${run.elapsedMs} ms, the minimum is ${run.minimumMs} ms`);

    // The samples show the budget being spent and the queue draining.
    assert.deepEqual(run.limits, { requests: 10, input_tokens: 6000, output_tokens: 2000 }, "the limits were read from the headers");
    assert.ok(run.samples.length >= 20, `${run.samples.length} samples`);
    assert.ok(Math.min(...run.samples.map((s) => s.requests ?? Infinity)) <= 2, "the requests budget was spent");
    assert.ok(Math.max(...run.samples.map((s) => s.queued)) >= 15, "calls waited for budget");
    assert.equal(run.samples.at(-1).queued, 0);
    assert.equal(run.answers.length, 30);

    // What is on screen: a line in each time chart, bars in the answers chart.
    const drawn = await page.evaluate(() =>
      Object.fromEntries(
        [...document.querySelectorAll("#charts svg")].map((svg) => [
          svg.id,
          { points: Number(svg.querySelector("path.line")?.dataset.points ?? 0), bars: svg.querySelectorAll("rect.bar").length },
        ]),
      ),
    );
    for (const id of ["chart-requests", "chart-input_tokens", "chart-output_tokens", "chart-queued", "chart-in-flight"]) {
      assert.ok(drawn[id].points >= 20, `${id} has ${drawn[id].points} points`);
    }
    assert.ok(drawn["chart-answers"].bars >= 3, `${drawn["chart-answers"].bars} bars of answers`);
    assert.equal(await page.textContent("#answered"), "30 / 30");

    await mkdir(logs, { recursive: true });
    await page.screenshot({ path: join(logs, "dashboard.png"), fullPage: true });
  } finally {
    await page.close();
  }
});
