// The checks every chaos run makes of a storm's summary (tests/support/storm.mjs)
// against the chaos API's own record (mock/chaos.mjs), in any test runner.
import assert from "node:assert/strict";
import { SETTLE_BOUND_MS } from "./storm.mjs";

/**
 * Every call settled within the bound, no rule was broken, and the ledger
 * balances: each dispatch is one request the caller's fetch sent, and each
 * request the server did not see was cut short by its call's abort.
 */
export function assertLedger({ calls, outcomes, slowest, violations, sent, snapshot }, api, expectedCalls, report) {
  assert.deepEqual(violations.slice(0, 20), [], report);
  // calls made = responses + errors + aborts (+ network errors)
  assert.equal(calls, expectedCalls);
  assert.equal(Object.values(outcomes).reduce((a, b) => a + b, 0), expectedCalls);
  assert.ok(slowest <= SETTLE_BOUND_MS, `slowest call took ${slowest} ms`);
  assert.equal(snapshot.counters.dispatched, sent.length, report);
  const unreached = sent.filter((r) => api.seen(r.id) === 0);
  assert.deepEqual(unreached.filter((r) => !r.failed).map((r) => r.id), [], "only aborted requests may miss the server");
  assert.equal(api.received(), sent.length - unreached.length, report);
  assert.ok(sent.every((r) => api.seen(r.id) <= 1), "no request arrived twice");
  assert.equal(snapshot.queued, 0, "nothing queued afterwards");
  assert.equal(snapshot.inFlight, 0, "nothing in flight afterwards");
  return { unreached: unreached.length };
}
