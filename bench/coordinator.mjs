// The cost of sharing a budget through the Durable Object coordinator: the
// time per call added to a Worker's calls, with and without a lease of
// spare grants, against the same Worker with its own budget. workerd
// through Miniflare, on loopback: one request makes `CALLS` calls one after
// another (so each call's own latency shows) against the mock API with an
// ample budget. Variants run in turns, `ROUNDS` times; the median counts.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startMockApi } from "../mock/api.mjs";
import { startWorkers } from "../tests/support/worker-bundle.mjs";

const CALLS = 200;
const ROUNDS = 5;
const tests = join(dirname(fileURLToPath(import.meta.url)), "..", "tests", "workerd");
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const VARIANTS = [
  { name: "own budget (no coordinator)", worker: "solo" },
  { name: "coordinator, no lease (leaseSize 1)", worker: "lease-1", leaseSize: 1 },
  { name: "coordinator, lease of 4 (the default)", worker: "lease-4", leaseSize: 4 },
  { name: "coordinator, lease of 16", worker: "lease-16", leaseSize: 16 },
];

export async function runCoordinator() {
  const api = await startMockApi({ limits: { requestsPerMinute: 1e6, inputTokensPerMinute: 1e9, outputTokensPerMinute: 1e9 }, latencyMs: 0 });
  const binding = { HEADROOM: { className: "HeadroomCoordinator", scriptName: "coordinator", useSQLite: true } };
  const mf = await startWorkers([
    { name: "coordinator", entry: join(tests, "coordinator-worker.js"), durableObjects: { HEADROOM: { className: "HeadroomCoordinator", useSQLite: true } } },
    ...VARIANTS.map((v) => ({
      name: v.worker,
      entry: join(tests, "edge-worker.js"),
      bindings: { API_URL: api.url, ...(v.leaseSize ? { LEASE_SIZE: String(v.leaseSize) } : {}) },
      durableObjects: v.leaseSize ? binding : {},
    })),
  ]);
  try {
    const times = Object.fromEntries(VARIANTS.map((v) => [v.worker, []]));
    // A first round warms every Worker and the object up; it is not counted.
    for (let round = 0; round <= ROUNDS; round++) {
      for (const v of VARIANTS) {
        const answer = await (await mf.getWorker(v.worker)).fetch(`http://bench/sequential?n=${CALLS}`);
        const { ms } = await answer.json();
        if (round > 0) times[v.worker].push(ms / CALLS);
      }
    }
    const base = median(times.solo);
    const rows = VARIANTS.map((v) => ({ name: v.name, leaseSize: v.leaseSize ?? null, msPerCall: median(times[v.worker]), addedMs: median(times[v.worker]) - base }));
    for (const r of rows) console.log(`  ${r.name}: ${r.msPerCall.toFixed(2)} ms a call (${r.addedMs >= 0 ? "+" : ""}${r.addedMs.toFixed(2)} ms)`);
    return { calls: CALLS, rounds: ROUNDS, rows };
  } finally {
    await mf.dispose();
    await api.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await runCoordinator();
