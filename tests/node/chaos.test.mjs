// Chaos: 10,000 calls through one Throttler against a server whose answers
// are faults (mock/chaos.mjs), with random costs, priorities and aborts.
// Every call must settle within a bound, the ledger must balance to the
// request, no call may be sent too often, after its abort, or with a stream
// body twice, and afterwards the throttler is idle and a fresh call goes at
// once. HEADROOM_SOAK=1 (`npm run soak`) runs 100,000 calls;
// HEADROOM_CHAOS_CALLS and HEADROOM_CHAOS_SEED choose the size and the seed
// (a failure prints its seed, which replays the same faults).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Throttler, HeadroomError } from "headroom";
import { startChaosApi } from "../../mock/chaos.mjs";
import { makeStorm, SETTLE_BOUND_MS } from "../support/storm.mjs";
import { sleep } from "../support/server.mjs";

const soak = process.env.HEADROOM_SOAK === "1";
const CALLS = Number(process.env.HEADROOM_CHAOS_CALLS ?? (soak ? 100_000 : 10_000));
const SEED = Number(process.env.HEADROOM_CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));

const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;

test(`${CALLS} calls through one Throttler against the chaos API all settle, and the ledger balances (seed ${SEED})`, { timeout: 20 * 60_000 }, async () => {
  const api = await startChaosApi({ seed: SEED });
  const timersBefore = timers();
  try {
    const storm = makeStorm({ Throttler, HeadroomError, url: api.url, seed: SEED });
    const started = Date.now();
    await storm.run(0, CALLS);
    const elapsed = Date.now() - started;
    await sleep(300); // let the server see any request still on the wire
    const { calls, outcomes, slowest, violations, sent, snapshot } = storm.summary();
    const report = JSON.stringify({ seed: SEED, elapsed, slowest, outcomes, faults: api.faults(), counters: snapshot.counters });
    console.log(`chaos: ${report}`);

    assert.deepEqual(violations.slice(0, 20), [], report);
    // calls made = responses + errors + aborts (+ network errors)
    assert.equal(calls, CALLS);
    assert.equal(Object.values(outcomes).reduce((a, b) => a + b, 0), CALLS);
    assert.ok(slowest <= SETTLE_BOUND_MS, `slowest call took ${slowest} ms`);
    // Every dispatch is one request the caller's fetch sent; every request
    // the server did not see was one whose fetch its abort cut short.
    assert.equal(snapshot.counters.dispatched, sent.length, report);
    const unreached = sent.filter((r) => api.seen(r.id) === 0);
    assert.deepEqual(unreached.filter((r) => !r.failed).map((r) => r.id), [], "only aborted requests may miss the server");
    assert.equal(api.received(), sent.length - unreached.length, report);
    assert.ok(sent.every((r) => api.seen(r.id) <= 1), "no request arrived twice");
    console.log(`chaos: ${sent.length} requests sent, ${api.received()} received, ${unreached.length} cut short by an abort before they reached the server`);

    // Idle: nothing queued or in flight, and no timer of ours left pending.
    assert.equal(snapshot.queued, 0);
    assert.equal(snapshot.inFlight, 0);
    assert.equal(snapshot.partitions.reduce((n, p) => n + p.queued + p.inFlight, 0), 0);
    assert.ok(timers() <= timersBefore, `${timers() - timersBefore} timers left pending`);
    // A fresh call goes through at once.
    const fresh = await storm.fresh();
    assert.equal(fresh.outcome, "response");
    assert.equal(fresh.status, 200);
    assert.ok(fresh.queuedMs < 50, `the fresh call waited ${fresh.queuedMs} ms`);
  } finally {
    await api.close();
  }
});
