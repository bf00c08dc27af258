// headroom in workerd (through Miniflare): the Worker in worker.js is bundled
// the way wrangler bundles one (esbuild with the "workerd" condition, .wasm
// imports left as compiled-module imports), then serves concurrent requests.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { startMockApi } from "../../mock/api.mjs";
import { startEndless429, startServer } from "../support/server.mjs";
import { startWorker } from "../support/worker-bundle.mjs";

const here = dirname(fileURLToPath(import.meta.url));

let api;
let mf;

before(async () => {
  // 6 requests refilled over 1.5 s: 12 concurrent requests are twice the limit.
  api = await startMockApi({ limits: { requestsPerMinute: 6 }, windowMs: 1500, latencyMs: 30 });
  mf = await startWorker(join(here, "worker.js"), { API_URL: api.url });
});

after(async () => {
  await mf?.dispose();
  await api?.close();
});

test("one module-scope Throttler serves concurrent requests within the cap and the limit", async () => {
  const results = await Promise.all(
    Array.from({ length: 12 }, (_, i) => mf.dispatchFetch(`http://worker/call?n=${i}`).then((r) => r.json())),
  );
  assert.equal(results.length, 12);
  assert.ok(results.every((r) => r.status === 200), JSON.stringify(results));
  assert.equal(new Set(results.map((r) => r.id)).size, 12, "every request got its own answer");
  const stats = api.stats();
  assert.equal(stats.refused, 0, "no call ran into a 429");
  assert.ok(stats.peakInFlight <= 2, `peak in flight ${stats.peakInFlight}`);
  const snapshot = await (await mf.dispatchFetch("http://worker/snapshot")).json();
  assert.equal(snapshot.counters.dispatched, 12);
  assert.equal(snapshot.inFlight, 0);
  assert.equal(snapshot.queued, 0);
  const requests = snapshot.partitions[0].dimensions.find((d) => d.name === "requests");
  assert.equal(requests.limit, 6, "the headers were read");
});

test("a request that ends early does not strand the others", async () => {
  // Requests that wait are woken by other requests' responses; each must
  // still finish in its own context after the request that woke it is done.
  const fast = mf.dispatchFetch("http://worker/snapshot").then((r) => r.json());
  const slow = Array.from({ length: 4 }, (_, i) => mf.dispatchFetch(`http://worker/call?n=late${i}`).then((r) => r.json()));
  await fast;
  const results = await Promise.all(slow);
  assert.ok(results.every((r) => r.status === 200), JSON.stringify(results));
});

test("HeadroomError crosses into Worker code as the exported class", async () => {
  const result = await (await mf.dispatchFetch("http://worker/refused")).json();
  assert.deepEqual(result, { refused: true, code: "COST_EXCEEDS_LIMIT" });
});

test("an input that is no URL rejects with a TypeError naming it, in Worker code too", async () => {
  const errors = await (await mf.dispatchFetch("http://worker/bad-input")).json();
  assert.equal(errors.length, 2);
  for (const [error, named] of [[errors[0], "`123` (number)"], [errors[1], "`undefined`"]]) {
    assert.equal(error.name, "TypeError");
    assert.ok(error.typeError, "an instance of the Worker's TypeError");
    assert.ok(error.message.includes(named), error.message);
  }
});

test("a 1.1 MB photo under Build-tier limits is sent from a Worker, not refused", async () => {
  const png = readFileSync(new URL("../fixtures/png-1000x1000.png", import.meta.url)).toString("base64");
  const result = await (await mf.dispatchFetch(`http://worker/image?png=${encodeURIComponent(png)}`)).json();
  assert.deepEqual(result, { status: 200 });
});

test("after a 429 asking for a week, the next call from a Worker settles at once with that 429, unsent", async () => {
  const server = await startServer(() => ({ status: 429, headers: { "retry-after": "604800" }, body: "{}" }));
  try {
    const result = await (await mf.dispatchFetch(`http://worker/week?url=${encodeURIComponent(`${server.url}/v1/messages`)}`)).json();
    assert.equal(result.answers.length, 2);
    assert.deepEqual(result.answers.map((a) => a.status), [429, 429]);
    assert.ok(Number(result.answers[1].retryAfter) > 604_000, JSON.stringify(result));
    assert.equal(server.log.length, 1, "the second call was not sent");
  } finally {
    await server.close();
  }
});

test("a 429 whose body never ends still settles a Worker's call", async () => {
  const server = await startEndless429();
  try {
    const target = `${server.url}/v1/messages`;
    const result = await (await mf.dispatchFetch(`http://worker/endless?url=${encodeURIComponent(target)}`)).json();
    assert.deepEqual(result.answers.map((a) => a.status), [429]);
    assert.equal(result.retried, 1, "its body was read in part, said no spend limit, and the call was retried");
  } finally {
    await server.close();
  }
});
