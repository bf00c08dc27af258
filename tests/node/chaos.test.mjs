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
import { makeStorm } from "../support/storm.mjs";
import { assertLedger } from "../support/ledger.mjs";
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
    const summary = storm.summary();
    const { slowest, outcomes, sent, snapshot } = summary;
    const report = JSON.stringify({ seed: SEED, elapsed, slowest, outcomes, faults: api.faults(), counters: snapshot.counters });
    console.log(`chaos: ${report}`);
    const { unreached } = assertLedger(summary, api, CALLS, report);
    console.log(`chaos: ${sent.length} requests sent, ${api.received()} received, ${unreached} cut short by an abort before they reached the server`);
    assert.equal(snapshot.partitions.reduce((n, p) => n + p.queued + p.inFlight, 0), 0);
    // No timer of ours left pending.
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
