// Chaos in workerd: calls through one module-scope Throttler, spread over
// concurrent Worker requests, against the chaos API (mock/chaos.mjs). The
// same checks as the Node chaos test: every call settles within a bound,
// the ledger balances to the request, no call is sent too often, after its
// abort or with a stream body twice, and afterwards the throttler is idle
// and a fresh call goes through at once. HEADROOM_CHAOS_SEED replays a seed.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { startChaosApi } from "../../mock/chaos.mjs";
import { SETTLE_BOUND_MS } from "../support/storm.mjs";
import { bundleWorker } from "../support/worker-bundle.mjs";

const CALLS = Number(process.env.HEADROOM_CHAOS_CALLS ?? 10_000);
const REQUESTS = 4;
const SEED = Number(process.env.HEADROOM_CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
const here = dirname(fileURLToPath(import.meta.url));

let api;
let mf;

before(async () => {
  api = await startChaosApi({ seed: SEED });
  const outdir = await bundleWorker(join(here, "storm-worker.js"));
  mf = new Miniflare({
    modules: true,
    scriptPath: join(outdir, "worker.js"),
    modulesRoot: outdir,
    modulesRules: [
      { type: "ESModule", include: ["**/*.js"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    compatibilityDate: "2025-06-01",
    bindings: { API_URL: api.url, SEED: String(SEED) },
    cf: false,
  });
  await mf.ready;
});

after(async () => {
  await mf?.dispose();
  await api?.close();
});

test(`${CALLS} calls over ${REQUESTS} concurrent Worker requests all settle, and the ledger balances (seed ${SEED})`, { timeout: 10 * 60_000 }, async () => {
  const slice = CALLS / REQUESTS;
  const answers = await Promise.all(
    Array.from({ length: REQUESTS }, (_, i) => mf.dispatchFetch(`http://worker/storm?from=${i * slice}&to=${(i + 1) * slice}`)),
  );
  assert.deepEqual(answers.map((a) => a.status), Array(REQUESTS).fill(200), "every Worker request finished");
  await Promise.all(answers.map((a) => a.json()));
  await new Promise((resolve) => setTimeout(resolve, 300)); // requests still on the wire
  const { calls, outcomes, slowest, violations, sent, snapshot } = await (await mf.dispatchFetch("http://worker/summary")).json();
  const report = JSON.stringify({ seed: SEED, slowest, outcomes, faults: api.faults(), counters: snapshot.counters });
  console.log(`workerd chaos: ${report}`);

  assert.deepEqual(violations.slice(0, 20), [], report);
  assert.equal(calls, CALLS);
  assert.equal(Object.values(outcomes).reduce((a, b) => a + b, 0), CALLS);
  assert.ok(slowest <= SETTLE_BOUND_MS, `slowest call took ${slowest} ms`);
  assert.equal(snapshot.counters.dispatched, sent.length, report);
  const unreached = sent.filter((r) => api.seen(r.id) === 0);
  assert.deepEqual(unreached.filter((r) => !r.failed).map((r) => r.id), [], "only aborted requests may miss the server");
  assert.equal(api.received(), sent.length - unreached.length, report);
  assert.ok(sent.every((r) => api.seen(r.id) <= 1), "no request arrived twice");

  assert.equal(snapshot.queued, 0);
  assert.equal(snapshot.inFlight, 0);
  const fresh = await (await mf.dispatchFetch("http://worker/fresh")).json();
  assert.equal(fresh.outcome, "response");
  assert.equal(fresh.status, 200);
  assert.ok(fresh.queuedMs < 50, `the fresh call waited ${fresh.queuedMs} ms`);
});
