// Overhead: calls per second through each limiter when the budget is ample
// and the work ends at once, so only the limiter's own work is timed. Two
// setups: `run`, a trivial task (an async function returning at once) with
// 64 in flight; `fetch`, headroom's drop-in `fetch` reading the request's
// body and parsing Anthropic headers on every answer, 32 in flight, against
// the same fake `fetch` through each library.
// Each library runs in a fresh process (no shared JIT or heap state):
//   node bench/overhead.mjs <run|fetch> <headroom|p-limit|p-queue|bottleneck> [calls] [concurrency]
// prints one JSON line. runOverhead() runs them all.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export const LIBRARIES = ["headroom", "p-limit", "p-queue", "bottleneck"];
export const CALLS = 100_000;
/** In flight at most, by setup. */
export const CONCURRENCY = { run: 64, fetch: 32 };
// bottleneck runs about 400 calls a second whatever the count (measured at
// 1,000 and 10,000), so 100,000 would take minutes: it gets 5,000.
export const CALLS_FOR = { bottleneck: 5_000 };
const WARMUP = 10_000;

// One answer, shared by every call: Anthropic headers with an ample budget,
// which headroom parses on every call as it would with the real API.
const reset = new Date(Date.now() + 60_000).toISOString();
const answer = new Response(null, {
  status: 200,
  headers: {
    "anthropic-ratelimit-requests-limit": "100000000",
    "anthropic-ratelimit-requests-remaining": "99999999",
    "anthropic-ratelimit-requests-reset": reset,
    "anthropic-ratelimit-input-tokens-limit": "1000000000",
    "anthropic-ratelimit-input-tokens-remaining": "999999000",
    "anthropic-ratelimit-input-tokens-reset": reset,
    "anthropic-ratelimit-output-tokens-limit": "1000000000",
    "anthropic-ratelimit-output-tokens-remaining": "999999000",
    "anthropic-ratelimit-output-tokens-reset": reset,
  },
});
const fakeFetch = async () => answer;
const url = "https://api.example.test/v1/messages";
const init = {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ model: "claude-bench", max_tokens: 64, messages: [{ role: "user", content: "Say ok." }] }),
};

const task = async () => answer;

async function limiterFor(setup, name, concurrency) {
  const work = setup === "run" ? task : () => fakeFetch(url, init);
  if (name === "headroom") {
    const { Throttler } = await import("headroom");
    const throttler = new Throttler({ fetch: fakeFetch, maxConcurrent: concurrency });
    return setup === "run" ? () => throttler.run(task) : () => throttler.fetch(url, init);
  }
  if (name === "p-limit") {
    const { default: pLimit } = await import("p-limit");
    const limit = pLimit(concurrency);
    return () => limit(work);
  }
  if (name === "p-queue") {
    const { default: PQueue } = await import("p-queue");
    const queue = new PQueue({ concurrency });
    return () => queue.add(work);
  }
  if (name === "bottleneck") {
    const { default: Bottleneck } = await import("bottleneck");
    const limiter = new Bottleneck({ maxConcurrent: concurrency });
    return () => limiter.schedule(work);
  }
  throw new Error(`unknown library ${name}`);
}

/** Offers `calls` at once and waits for all; returns the milliseconds taken. */
async function burst(call, calls) {
  const started = performance.now();
  const pending = new Array(calls);
  for (let i = 0; i < calls; i++) pending[i] = call();
  await Promise.all(pending);
  return performance.now() - started;
}

async function measure(setup, name, calls, concurrency) {
  const call = await limiterFor(setup, name, concurrency);
  await burst(call, Math.min(WARMUP, calls / 10));
  const ms = await burst(call, calls);
  return { setup, library: name, calls, concurrency, ms, callsPerSecond: (calls / ms) * 1000 };
}

/** Both setups, every library `runs` times each; the best run of each. */
export function runOverhead({ log = console.log, runs = 3, extraArgs = [] } = {}) {
  const script = fileURLToPath(import.meta.url);
  const setups = {};
  for (const setup of ["run", "fetch"]) {
    log(`  ${setup}:`);
    setups[setup] = LIBRARIES.map((library) => {
      const measured = [];
      for (let i = 0; i < runs; i++) {
        const args = [...extraArgs, script, setup, library, String(CALLS_FOR[library] ?? CALLS), String(CONCURRENCY[setup])];
        const child = spawnSync(process.execPath, args, { encoding: "utf8", timeout: 120_000 });
        if (child.status !== 0) throw new Error(`overhead ${setup} ${library} failed: ${child.stderr || child.error}`);
        measured.push(JSON.parse(child.stdout.trim().split("\n").pop()));
      }
      // The best of the runs: the least disturbed by anything else on the machine.
      const best = measured.reduce((a, b) => (b.callsPerSecond > a.callsPerSecond ? b : a));
      log(`    ${library}: ${Math.round(best.callsPerSecond).toLocaleString("en")} calls/s (runs: ${measured.map((m) => Math.round(m.callsPerSecond)).join(", ")})`);
      return { ...best, runs: measured.map((m) => m.callsPerSecond) };
    });
  }
  return { calls: CALLS, callsFor: CALLS_FOR, concurrency: CONCURRENCY, warmup: WARMUP, rows: setups.run, fetchRows: setups.fetch };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [setup, name, calls = CALLS, concurrency = CONCURRENCY[setup]] = process.argv.slice(2);
  if (!(setup in CONCURRENCY)) throw new Error(`expected a setup (run or fetch), got ${setup}`);
  const result = await measure(setup, name, Number(calls), Number(concurrency));
  console.log(JSON.stringify(result));
}
