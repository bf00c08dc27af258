// One budget for many isolates, in workerd through Miniflare: three Workers
// (three isolates) share the HeadroomCoordinator Durable Object and send a
// burst through the mock API, which admits every call and records whether
// any overdrew a limit, so only the throttlers can have kept to it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startMockApi } from "../../mock/api.mjs";
import { startWorkers } from "../support/worker-bundle.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const EDGES = ["edge-a", "edge-b", "edge-c"];
// 20 requests a window of 2 s, refilled continuously: 10 a second.
const LIMITS = { requestsPerMinute: 20, inputTokensPerMinute: 1e9, outputTokensPerMinute: 1e9 };
const WINDOW_MS = 2_000;
const CALLS = 60;

let mf;

function bound(className) {
  return { HEADROOM: { className, scriptName: "coordinator", useSQLite: true } };
}

async function start(api) {
  await mf?.dispose();
  mf = await startWorkers([
    { name: "coordinator", entry: join(here, "coordinator-worker.js"), durableObjects: {
      HEADROOM: { className: "RestartableCoordinator", useSQLite: true },
      UNREACHABLE: { className: "UnreachableCoordinator" },
    } },
    ...EDGES.map((name) => ({ name, entry: join(here, "edge-worker.js"), bindings: { API_URL: api.url }, durableObjects: bound("RestartableCoordinator") })),
    { name: "solo", entry: join(here, "edge-worker.js"), bindings: { API_URL: api.url } },
    { name: "cut-off", entry: join(here, "edge-worker.js"), bindings: { API_URL: api.url }, durableObjects: bound("UnreachableCoordinator") },
  ]);
}

async function json(worker, path) {
  const response = await (await mf.getWorker(worker)).fetch(`http://edge${path}`);
  return response.json();
}

/**
 * The coordinator's snapshot, asked every `everyMs` until `settled(snapshot)`
 * or `withinMs` have passed; the last snapshot and how long that took.
 */
async function coordinatorWhen(settled, { withinMs, everyMs }) {
  const from = Date.now();
  let snapshot = await json("edge-a", "/coordinator");
  while (!settled(snapshot) && Date.now() - from < withinMs) {
    await new Promise((resolve) => setTimeout(resolve, everyMs));
    snapshot = await json("edge-a", "/coordinator");
  }
  return { snapshot, waitedMs: Date.now() - from };
}

after(async () => {
  await mf?.dispose();
});

// The goodput of the shared burst against one isolate's is printed, not
// asserted: a ratio of times measured on a busy machine is a benchmark's
// figure, and this one moved between 87 % and 98 % over runs.
test("three isolates sharing a coordinator keep to the limit; every call is granted and reported back", { timeout: 120_000 }, async (t) => {
  // Side by side in one run: first one isolate alone, then three sharing.
  const alone = await startMockApi({ limits: LIMITS, windowMs: WINDOW_MS, latencyMs: 30, enforce: false });
  let solo;
  try {
    await start(alone);
    solo = await json("solo", `/burst?n=${CALLS}`);
    assert.deepEqual(new Set(solo.statuses), new Set([200]));
    alone.assertWithinLimits();
  } finally {
    await alone.close();
  }

  const shared = await startMockApi({ limits: LIMITS, windowMs: WINDOW_MS, latencyMs: 30, enforce: false });
  try {
    await start(shared);
    const started = Date.now();
    const bursts = await Promise.all(EDGES.map((edge) => json(edge, `/burst?n=${CALLS / EDGES.length}`)));
    const sharedMs = Date.now() - started;
    for (const burst of bursts) assert.deepEqual(new Set(burst.statuses), new Set([200]), JSON.stringify(burst));
    shared.assertWithinLimits();
    const stats = shared.stats();
    assert.equal(stats.admitted, CALLS);
    assert.equal(stats.overdrawn, 0);
    const goodput = { solo: (CALLS * 1000) / solo.ms, shared: (CALLS * 1000) / sharedMs };
    t.diagnostic(`goodput: one isolate ${goodput.solo.toFixed(2)} calls/s, three sharing ${goodput.shared.toFixed(2)} calls/s (${((goodput.shared / goodput.solo) * 100).toFixed(0)} %)`);
    // A grant whose call went comes back with its report, a message not
    // waited for; a spare grant left unused when an edge's request ended
    // comes back when the coordinator reclaims it, leaseMs (1 s) plus 5 s
    // after it was made (an isolate between requests runs no timer to give
    // it back). So the coordinator is asked until nothing is outstanding,
    // for up to twice that: a report lost would hold its grant 10 minutes.
    const { snapshot: coordinator, waitedMs } = await coordinatorWhen((c) => c.inFlight === 0 && c.grants === 0, { withinMs: 12_000, everyMs: 250 });
    t.diagnostic(`outstanding grants settled ${waitedMs} ms after the bursts`);
    assert.equal(coordinator.counters.dispatched >= CALLS, true, "every call was granted by the coordinator");
    assert.equal(coordinator.inFlight, 0, "every grant was reported back, or given back unused");
    assert.equal(coordinator.grants, 0, "no grant is left outstanding");
  } finally {
    await shared.close();
  }
});

test("a spare grant left unused when a Worker's request ended goes back, and no grant is left outstanding", { timeout: 120_000 }, async (t) => {
  const api = await startMockApi({ limits: LIMITS, windowMs: WINDOW_MS, latencyMs: 30, enforce: false });
  try {
    await start(api);
    // The first call asks for a lease of 4 and, its calls small, is granted
    // all 4 in the coordinator's probe, its call taking one; the next takes
    // one of the 3 spares: 2 are left, no request left to use them or to
    // give them back.
    await json("edge-a", "/burst?n=1");
    await json("edge-a", "/burst?n=1");
    // Each call's own grant goes with its report, a message not waited for.
    const leased = await coordinatorWhen((c) => c.grants <= 2, { withinMs: 2_000, everyMs: 100 });
    assert.equal(leased.snapshot.grants, 2, "the spares of the lease are outstanding");
    const { snapshot: coordinator, waitedMs } = await coordinatorWhen((c) => c.grants === 0, { withinMs: 12_000, everyMs: 250 });
    t.diagnostic(`the spares went back ${waitedMs} ms after the call`);
    assert.equal(coordinator.grants, 0, "the coordinator reclaimed the spares");
    assert.equal(coordinator.inFlight, 0);
    assert.equal(api.stats().admitted, 2);
  } finally {
    await api.close();
  }
});

test("the coordinator restarts mid-burst: no call is lost and the limit still holds", { timeout: 120_000 }, async () => {
  const api = await startMockApi({ limits: LIMITS, windowMs: WINDOW_MS, latencyMs: 30, enforce: false });
  await start(api);
  const bursts = Promise.all(EDGES.map((edge) => json(edge, `/burst?n=${CALLS / EDGES.length}`)));
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const before = api.stats().admitted;
  const restart = await json("edge-a", "/restart");
  assert.match(restart.error ?? "", /restarted by the test/, "the object was reset");
  const results = await bursts;
  for (const burst of results) assert.deepEqual(new Set(burst.statuses), new Set([200]), JSON.stringify(burst));
  assert.ok(before > 0 && before < CALLS, `the restart came mid-burst (${before} calls answered before it)`);
  const events = await Promise.all(EDGES.map((edge) => json(edge, "/events")));
  assert.deepEqual(events.flat(), [], "the restarted coordinator answered: no isolate fell back");
  api.assertWithinLimits();
  assert.equal(api.stats().admitted, CALLS, "every call was sent once");
  await api.close();
});

test("the coordinator cannot be reached: calls still complete, through the local budget, and say so", { timeout: 120_000 }, async () => {
  const api = await startMockApi({ limits: LIMITS, windowMs: WINDOW_MS, latencyMs: 30 });
  await start(api);
  const burst = await json("cut-off", "/burst?n=10");
  assert.deepEqual(new Set(burst.statuses), new Set([200]), JSON.stringify(burst));
  const events = await json("cut-off", "/events");
  assert.equal(events.length, 1, JSON.stringify(events));
  assert.equal(events[0].type, "fallback");
  assert.equal(events[0].retryInMs, 60_000);
  const snapshot = await json("cut-off", "/snapshot");
  assert.equal(snapshot.counters.completed, 10);
  await api.close();
});
