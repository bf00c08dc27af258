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
import { startChaosApi } from "../../mock/chaos.mjs";
import { startWorker } from "../support/worker-bundle.mjs";
import { assertLedger } from "../support/ledger.mjs";

const CALLS = Number(process.env.HEADROOM_CHAOS_CALLS ?? 10_000);
const REQUESTS = 4;
const SEED = Number(process.env.HEADROOM_CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
const here = dirname(fileURLToPath(import.meta.url));

let api;
let mf;

before(async () => {
  api = await startChaosApi({ seed: SEED });
  mf = await startWorker(join(here, "storm-worker.js"), { API_URL: api.url, SEED: String(SEED) });
});

after(async () => {
  await mf?.dispose();
  await api?.close();
});

test(`${CALLS} calls over ${REQUESTS} concurrent Worker requests all settle, and the ledger balances (seed ${SEED})`, { timeout: 10 * 60_000 }, async () => {
  const slice = CALLS / REQUESTS;
  // Each answer is read as it arrives: a body left unread until the others
  // finish may be gone by then.
  const answers = await Promise.all(
    Array.from({ length: REQUESTS }, (_, i) =>
      mf.dispatchFetch(`http://worker/storm?from=${i * slice}&to=${(i + 1) * slice}`).then(async (a) => ({ status: a.status, body: await a.text() })),
    ),
  );
  assert.deepEqual(answers.map((a) => a.status), Array(REQUESTS).fill(200), `every Worker request finished: ${JSON.stringify(answers)}`);
  await new Promise((resolve) => setTimeout(resolve, 300)); // requests still on the wire
  const summary = await (await mf.dispatchFetch("http://worker/summary")).json();
  const { slowest, outcomes, snapshot } = summary;
  const report = JSON.stringify({ seed: SEED, slowest, outcomes, faults: api.faults(), counters: snapshot.counters });
  console.log(`workerd chaos: ${report}`);
  assertLedger(summary, api, CALLS, report);
  const fresh = await (await mf.dispatchFetch("http://worker/fresh")).json();
  assert.equal(fresh.outcome, "response");
  assert.equal(fresh.status, 200);
  assert.ok(fresh.queuedMs < 50, `the fresh call waited ${fresh.queuedMs} ms`);
});
