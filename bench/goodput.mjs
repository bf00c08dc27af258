// Goodput: one burst of calls of mixed size, offered all at once and well
// above the limit, through each contender side by side. Every contender has
// its own model on one mock server, so each has buckets of its own and the
// same limits, and all of them run at the same time on the same clock.
import { setMaxListeners } from "node:events";
import Anthropic from "@anthropic-ai/sdk";
import Bottleneck from "bottleneck";
import PQueue from "p-queue";
import { Throttler } from "headroom";
import { countInputTokens, startMockApi, theoreticalMinimumMs } from "../mock/api.mjs";

// An Anthropic tier-1-sized budget (per-minute limits of this size), spent
// per 10 s window instead of per minute: time runs 6× faster than with the
// real API. The mock rounds remaining tokens to thousands as Anthropic does.
export const SCALE = 6;
export const MOCK = {
  limits: { requestsPerMinute: 50, inputTokensPerMinute: 30_000, outputTokensPerMinute: 8_000 },
  windowMs: 60_000 / SCALE,
  latencyMs: 300,
  roundTokens: true,
};
export const CALLS = 200;
// No contender may take longer than this; what is left is aborted and counted as failed.
const DEADLINE_MS = 240_000;
const SAMPLE_MS = 100;

/** Deterministic mixed sizes: 100 to 1,600 input tokens, max_tokens 50 to 400. */
export function burstBodies(count = CALLS, model = "claude-bench") {
  let seed = 11;
  const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  return Array.from({ length: count }, (_, i) => ({
    model,
    max_tokens: 50 + Math.floor(random() * 351),
    messages: [{ role: "user", content: `Item ${i}: ` + "x".repeat(400 + Math.floor(random() * 6000)) }],
  }));
}

const sleep = (ms, signal) => new Promise((resolve) => {
  const timer = setTimeout(resolve, ms);
  signal?.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
});

/** A semaphore of `size`: run(fn) waits for a slot. */
function semaphore(size) {
  let free = size;
  const waiting = [];
  return async (fn) => {
    if (free > 0) free--;
    else await new Promise((resolve) => waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else free++;
    }
  };
}

// Each contender: how it is built, and how it sends one call. `client(fetch,
// maxRetries)` is the Anthropic SDK on the mock with a counting fetch.
const CONTENDERS = [
  {
    name: "headroom",
    setup: "`throttler.fetch` as the SDK's fetch, SDK `maxRetries: 0`, throttler defaults (`maxRetries: 2`, `maxConcurrent: 32`)",
    make({ client, fetch }) {
      const throttler = new Throttler({ fetch });
      const sdk = client(throttler.fetch, 0);
      return { send: (body, signal) => sdk.messages.create(body, { signal }) };
    },
  },
  {
    name: "SDK alone",
    setup: "the Anthropic SDK with its default `maxRetries: 2` (it honours `retry-after`)",
    make({ client, fetch }) {
      const sdk = client(fetch, 2);
      return { send: (body, signal) => sdk.messages.create(body, { signal }) };
    },
  },
  {
    name: "SDK alone, 4 retries",
    setup: "the Anthropic SDK with `maxRetries: 4`",
    make({ client, fetch }) {
      const sdk = client(fetch, 4);
      return { send: (body, signal) => sdk.messages.create(body, { signal }) };
    },
  },
  {
    name: "bottleneck",
    setup: "`reservoir` 50 refreshed every window, `minTime` window / 50; SDK `maxRetries: 2`",
    make({ client, fetch }) {
      const sdk = client(fetch, 2);
      const { requestsPerMinute } = MOCK.limits;
      const limiter = new Bottleneck({
        reservoir: requestsPerMinute,
        reservoirRefreshAmount: requestsPerMinute,
        reservoirRefreshInterval: MOCK.windowMs,
        minTime: MOCK.windowMs / requestsPerMinute,
      });
      return {
        send: (body, signal) => limiter.schedule(() => sdk.messages.create(body, { signal })),
        stop: () => limiter.stop({ dropWaitingJobs: true }).catch(() => {}),
      };
    },
  },
  {
    name: "p-queue",
    setup: "`intervalCap` 50 per `interval` of one window; SDK `maxRetries: 2`",
    make({ client, fetch }) {
      const sdk = client(fetch, 2);
      const queue = new PQueue({ intervalCap: MOCK.limits.requestsPerMinute, interval: MOCK.windowMs });
      return { send: (body, signal) => queue.add(() => sdk.messages.create(body, { signal }), { signal }), stop: () => queue.clear() };
    },
  },
  {
    name: "hand-written",
    setup: `a semaphore of 5; sleep 10 s (scaled: ${(10 / SCALE).toFixed(2)} s) when under 5,000 tokens remain; SDK \`maxRetries: 4\``,
    make({ client, fetch }) {
      const sdk = client(fetch, 4);
      const limit = semaphore(5);
      // The pattern reads one "remaining tokens" figure; the mock reports
      // input and output tokens apart, so it takes the lower of the two.
      let remainingTokens = Infinity;
      return {
        send: (body, signal) => limit(async () => {
          if (remainingTokens < 5000) await sleep(10_000 / SCALE, signal);
          const { data, response } = await sdk.messages.create(body, { signal }).withResponse();
          const input = Number(response.headers.get("anthropic-ratelimit-input-tokens-remaining"));
          const output = Number(response.headers.get("anthropic-ratelimit-output-tokens-remaining"));
          if (Number.isFinite(input) && Number.isFinite(output)) remainingTokens = Math.min(input, output);
          return data;
        }),
      };
    },
  },
];

const quantile = (sorted, q) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : null);

export async function runGoodput({ log = console.log } = {}) {
  const api = await startMockApi(MOCK);
  const started = Date.now();
  const controller = new AbortController();
  setMaxListeners(0, controller.signal); // every waiting call listens to the one deadline
  const deadline = setTimeout(() => controller.abort(new Error("benchmark deadline")), DEADLINE_MS);
  const rows = CONTENDERS.map((contender, index) => ({ contender, model: `claude-bench-${index}`, attempts: [], samples: [] }));

  const minimumMs = theoreticalMinimumMs(
    burstBodies().map((b) => ({ input_tokens: countInputTokens(b), output_tokens: b.max_tokens })),
    MOCK,
  );

  // The server's buckets of every contender, sampled on one clock.
  const sampler = setInterval(() => {
    const t = Date.now() - started;
    for (const row of rows) {
      const levels = api.levels(row.model);
      row.samples.push([t, ...["requests", "input_tokens", "output_tokens"].map((name) => Math.max(0, levels[name].level) / levels[name].limit)]);
    }
  }, SAMPLE_MS);

  const results = await Promise.all(rows.map(async (row) => {
    // Every attempt the contender sends, with its answer's status and time.
    const countingFetch = async (input, init) => {
      const response = await fetch(input, init);
      row.attempts.push({ t: Date.now() - started, status: response.status });
      return response;
    };
    const client = (fetchFn, maxRetries) =>
      new Anthropic({ apiKey: "bench", baseURL: api.url, fetch: fetchFn, maxRetries, timeout: DEADLINE_MS });
    const runner = row.contender.make({ client, fetch: countingFetch });
    const bodies = burstBodies(CALLS, row.model);
    const calls = await Promise.all(bodies.map((body) =>
      runner.send(body, controller.signal).then(
        () => ({ ok: true, ms: Date.now() - started }),
        (error) => ({ ok: false, ms: Date.now() - started, error: String(error?.status ?? error?.name ?? error) }),
      ),
    ));
    await runner.stop?.();
    const okMs = calls.filter((c) => c.ok).map((c) => c.ms).sort((a, b) => a - b);
    const completionMs = Math.max(...calls.map((c) => c.ms));
    const firstAnswer = Math.min(...row.attempts.map((a) => a.t));
    const limited = row.attempts.filter((a) => a.status === 429);
    const result = {
      name: row.contender.name,
      setup: row.contender.setup,
      calls: CALLS,
      succeeded: okMs.length,
      failed: CALLS - okMs.length,
      failures: [...new Set(calls.filter((c) => !c.ok).map((c) => c.error))],
      completionMs,
      ratio: completionMs / minimumMs,
      attempts: row.attempts.length,
      rateLimited: limited.length,
      rateLimitedAfterFirstAnswer: limited.filter((a) => a.t > firstAnswer).length,
      p50Ms: quantile(okMs, 0.5),
      p99Ms: quantile(okMs, 0.99),
    };
    log(`  ${result.name}: ${result.succeeded}/${CALLS} ok in ${(completionMs / 1000).toFixed(1)} s (${result.ratio.toFixed(3)}×), 429s ${result.rateLimited}`);
    return { result, row };
  }));

  clearTimeout(deadline);
  clearInterval(sampler);
  const server = api.stats();
  const limits = api.limitReport();
  await api.close();
  return {
    mock: { ...MOCK, scale: SCALE, calls: CALLS, theoreticalMinimumMs: minimumMs },
    server: { ...server, minLevels: limits.minLevels },
    rows: results.map((r) => r.result),
    timelines: Object.fromEntries(results.map(({ result, row }) => [result.name, {
      samples: row.samples,
      rateLimitedAt: row.attempts.filter((a) => a.status === 429).map((a) => a.t),
    }])),
  };
}
