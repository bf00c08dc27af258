// The cost of sharing a budget through Redis (headroom/redis), against a
// redis-server started here on loopback, with node-redis:
// - per call: one process sends `CALLS` calls one after another (so each
//   call's own latency shows) to the mock API with an ample budget and a
//   small latency, with its own budget and through Redis with leases of 1,
//   4 and 16; variants in turns, each in a fresh process after a warm-up,
//   `ROUNDS` times; the median counts.
// - sharing: the same limit-bound burst sent by one process with its own
//   budget, and by four processes sharing one budget in Redis, side by
//   side, `BURST_ROUNDS` times: the ratio of the burst times.
import { fileURLToPath } from "node:url";
import { startMockApi, theoreticalMinimumMs } from "../mock/api.mjs";
import { runSenders, startRedis } from "../tests/support/redis.mjs";

const CALLS = 200;
const WARMUP = 20;
const ROUNDS = 5;
const BURST_CALLS = 160;
const BURST_ROUNDS = 3;
// 40 requests a window of 2 s, refilled continuously: 20 a second.
const BURST_LIMITS = { requestsPerMinute: 40, inputTokensPerMinute: 1e9, outputTokensPerMinute: 1e9 };
const WINDOW_MS = 2_000;
const LATENCY_MS = 2;
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const ids = (n) => Array.from({ length: n }, (_, i) => i + 1);

const VARIANTS = [
  { name: "own budget (no coordinator)", coordinator: false },
  { name: "Redis, no lease (leaseSize 1)", leaseSize: 1 },
  { name: "Redis, lease of 4 (the default)", leaseSize: 4 },
  { name: "Redis, lease of 16", leaseSize: 16 },
];

const BURSTS = [
  { name: "one process, its own budget", processes: 1, coordinator: false },
  { name: "one process, the budget in Redis", processes: 1 },
  { name: "four processes sharing the budget in Redis", processes: 4 },
];

export async function runRedis() {
  const redis = await startRedis();
  const base = { client: "node-redis", port: redis.port };
  let run = 0;
  try {
    const api = await startMockApi({ limits: { requestsPerMinute: 1e7, inputTokensPerMinute: 1e10, outputTokensPerMinute: 1e10 }, latencyMs: LATENCY_MS });
    const times = VARIANTS.map(() => []);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, v] of VARIANTS.entries()) {
        const setup = { ...base, api: api.url, name: `bench-${++run}`, coordinator: v.coordinator, leaseSize: v.leaseSize, sequential: true, warmup: WARMUP };
        const { reports } = await runSenders([ids(CALLS)], setup);
        times[i].push(reports[0].ms / CALLS);
      }
    }
    await api.close();
    const own = median(times[0]);
    const rows = VARIANTS.map((v, i) => ({ name: v.name, leaseSize: v.leaseSize ?? null, msPerCall: median(times[i]), addedMs: median(times[i]) - own }));
    for (const r of rows) console.log(`  ${r.name}: ${r.msPerCall.toFixed(2)} ms a call (${r.addedMs >= 0 ? "+" : ""}${r.addedMs.toFixed(2)} ms)`);

    const burstTimes = BURSTS.map(() => []);
    let overdrawn = 0;
    for (let round = 0; round < BURST_ROUNDS; round++) {
      for (const [i, b] of BURSTS.entries()) {
        // A fresh server each time: full buckets, enforcing nothing, so
        // only the throttlers keep to the limit (overdrawn counts a miss).
        const burstApi = await startMockApi({ limits: BURST_LIMITS, windowMs: WINDOW_MS, latencyMs: 30, enforce: false });
        const all = ids(BURST_CALLS);
        const shares = Array.from({ length: b.processes }, (_, p) => all.filter((_, j) => j % b.processes === p));
        const { reports } = await runSenders(shares, { ...base, api: burstApi.url, name: `burst-${++run}`, coordinator: b.coordinator });
        burstTimes[i].push(Math.max(...reports.map((r) => r.ms)));
        overdrawn += burstApi.stats().overdrawn;
        await burstApi.close();
      }
    }
    const minimumMs = theoreticalMinimumMs(ids(BURST_CALLS).map(() => ({ input_tokens: 0, output_tokens: 0 })), { limits: BURST_LIMITS, windowMs: WINDOW_MS, latencyMs: 30 });
    const one = median(burstTimes[0]);
    const bursts = BURSTS.map((b, i) => ({ name: b.name, processes: b.processes, ms: median(burstTimes[i]), ratio: median(burstTimes[i]) / one }));
    for (const b of bursts) console.log(`  ${b.name}: ${(b.ms / 1000).toFixed(2)} s (${b.ratio.toFixed(3)}×)`);
    return {
      calls: CALLS, rounds: ROUNDS, latencyMs: LATENCY_MS, rows,
      burst: { calls: BURST_CALLS, rounds: BURST_ROUNDS, limits: BURST_LIMITS, windowMs: WINDOW_MS, minimumMs, overdrawn, rows: bursts },
    };
  } finally {
    await redis.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await runRedis();
