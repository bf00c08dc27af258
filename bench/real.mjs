// Goodput under real conditions: answers that take seconds, estimates that
// are off, prompts that are cached. The goodput bench answers every call in
// 300 ms with headers as at the answer; here the mock answers as Anthropic
// documents its API: each call takes a time drawn log-uniformly from a range,
// the rate-limit headers of an answer describe the buckets as the call was
// admitted (so they are up to a whole answer old when they arrive; its
// `Date` is the answer's own, as an HTTP server stamps it), each
// answer writes 20 to 100 % of its `max_tokens` and the rest goes back to the
// output bucket, and reads of a prompt prefix marked `cache_control` do not
// count against input tokens.
//
// One burst per (condition, seed): headroom's Throttler as the Anthropic
// SDK's fetch (SDK `maxRetries: 0`), every call offered at once, well above
// the limit. Each burst has a mock server of its own (its own buckets and
// cache, seeded by the seed); all of a round's bursts run side by side on
// one clock, started seed by seed with the conditions in turn. The minimum
// of a burst is the limit-bound time of what its server charged (cache
// reads excluded, output net of what answers gave back) plus the mean time
// of its answers.
//   node bench/real.mjs    runs it and prints the summary (also: node bench/run.mjs real)
import { setMaxListeners } from "node:events";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import Anthropic from "@anthropic-ai/sdk";
import { Throttler } from "headroom";
import { countInputTokens, startMockApi, theoreticalMinimumMs } from "../mock/api.mjs";
import { generator, mix } from "../mock/seeded.mjs";

// The goodput bench's tier-1-sized budget, spent per 10 s window (time runs
// 6× faster than with per-minute limits); remaining tokens rounded to
// thousands as Anthropic does.
export const SCALE = 6;
export const MOCK = {
  limits: { requestsPerMinute: 50, inputTokensPerMinute: 30_000, outputTokensPerMinute: 8_000 },
  windowMs: 60_000 / SCALE,
  roundTokens: true,
  headersAt: "admission",
  outputFraction: [0.2, 1],
  promptCache: true,
};
// About 8 times the input limit at once: a burst of about a minute, so that
// the wait for the first answer (which shows the limits) weighs little.
export const CALLS = 300;
export const SEEDS = 10;
// Seeds run in this many rounds, each round every condition side by side.
const ROUNDS = 2;
// The bursts of a round start this far apart, so that offering one burst's
// calls (the SDK and headroom reading 100 bodies) does not hold up another's
// start: each burst's time runs from its own start.
const STAGGER_MS = 300;
const DEADLINE_MS = 180_000;
const SYSTEM_TOKENS = 4000;

// `estimate`: the factor applied to the server's own count of a call's input
// (countInputTokens) in the throttler's `estimate` option; null leaves
// headroom's built-in estimate (which calibrates itself from the answers'
// `usage`). `cached`: every call starts with the same system prompt of
// about SYSTEM_TOKENS tokens marked `cache_control`.
export const CONDITIONS = [
  { name: "answers in 0.3 to 1.5 s, exact estimate", latencyMs: [300, 1500], estimate: 1 },
  { name: "answers in 1 to 3 s, exact estimate", latencyMs: [1000, 3000], estimate: 1 },
  { name: "0.3 to 1.5 s, input estimated 25 % high", latencyMs: [300, 1500], estimate: 1.25 },
  { name: "0.3 to 1.5 s, input estimated 25 % low", latencyMs: [300, 1500], estimate: 0.75 },
  { name: "0.3 to 1.5 s, headroom's built-in estimate", latencyMs: [300, 1500], estimate: null },
  { name: `0.3 to 1.5 s, built-in estimate, a cached system prompt of ${SYSTEM_TOKENS.toLocaleString("en")} tokens`, latencyMs: [300, 1500], estimate: null, cached: true },
];

const WORDS = "the of budget tokens limit answer request model window refill bucket header server client minute cache prompt system message stream latency estimate".split(" ");

/** Text of about `chars` characters: words, as prose has them. */
function prose(random, chars) {
  const words = [];
  for (let length = 0; length < chars; length += words.at(-1).length + 1) words.push(WORDS[Math.floor(random() * WORDS.length)]);
  return words.join(" ");
}

/** The burst of a seed: 100 to 1,600 input tokens and `max_tokens` 50 to 400 a call, as in the goodput bench. */
export function realBodies(seed, { cached = false, count = CALLS, model = "claude-bench" } = {}) {
  const random = generator(mix(seed, "bodies"));
  const system = cached ? [{ type: "text", text: prose(generator(1), SYSTEM_TOKENS * 4), cache_control: { type: "ephemeral" } }] : undefined;
  return Array.from({ length: count }, (_, i) => ({
    model,
    max_tokens: 50 + Math.floor(random() * 351),
    ...(system && { system }),
    messages: [{ role: "user", content: `Item ${i}: ${prose(random, 400 + Math.floor(random() * 6000))}` }],
  }));
}

/** The throttler's `estimate` option for a factor: that times the server's count of the input, and `max_tokens`. */
function biasedEstimate(factor) {
  return (input, init) => {
    const body = JSON.parse(init.body);
    return { requests: 1, inputTokens: factor * countInputTokens(body), outputTokens: body.max_tokens };
  };
}

async function burst(condition, seed, signal, startInMs) {
  const options = { ...MOCK, latencyMs: condition.latencyMs, seed };
  const api = await startMockApi(options);
  try {
    const attempts = [];
    const bodies = realBodies(seed, { cached: condition.cached });
    await new Promise((resolve) => setTimeout(resolve, startInMs));
    const started = Date.now();
    const countingFetch = async (input, init) => {
      const response = await fetch(input, init);
      attempts.push({ t: Date.now() - started, status: response.status });
      return response;
    };
    const throttler = new Throttler({ fetch: countingFetch, ...(condition.estimate !== null && { estimate: biasedEstimate(condition.estimate) }) });
    const sdk = new Anthropic({ apiKey: "bench", baseURL: api.url, fetch: throttler.fetch, maxRetries: 0, timeout: DEADLINE_MS });
    const calls = await Promise.all(bodies.map((body) =>
      sdk.messages.create(body, { signal }).then(
        () => ({ ok: true, ms: Date.now() - started }),
        (error) => ({ ok: false, ms: Date.now() - started, error: String(error?.status ?? error?.name ?? error) }),
      ),
    ));
    const charged = api.charged("claude-bench");
    const meanLatencyMs = charged.reduce((sum, c) => sum + c.latencyMs, 0) / charged.length;
    const minimumMs = theoreticalMinimumMs(charged, { ...options, latencyMs: meanLatencyMs });
    const completionMs = Math.max(...calls.map((c) => c.ms));
    const firstAnswer = Math.min(...attempts.map((a) => a.t));
    const limited = attempts.filter((a) => a.status === 429);
    throttler.free();
    return {
      seed,
      succeeded: calls.filter((c) => c.ok).length,
      failures: [...new Set(calls.filter((c) => !c.ok).map((c) => c.error))],
      completionMs,
      minimumMs,
      meanLatencyMs,
      ratio: completionMs / minimumMs,
      // headroom learns the limits from the first answer: until then it
      // sends only its probe (the minimum spends the budget from the start).
      firstAnswerMs: firstAnswer,
      rateLimited: limited.length,
      rateLimitedAfterFirstAnswer: limited.filter((a) => a.t > firstAnswer).length,
      cacheReadTokens: charged.reduce((sum, c) => sum + (c.cache_read_input_tokens ?? 0), 0),
    };
  } finally {
    await api.close();
  }
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  return sorted.length % 2 ? sorted[Math.floor(mid)] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** One condition's figures over its seeds. */
function summarize(condition, runs) {
  const ratios = runs.map((r) => r.ratio);
  const per1000 = (r) => (r.rateLimitedAfterFirstAnswer / CALLS) * 1000;
  return {
    name: condition.name,
    latencyMs: condition.latencyMs,
    estimate: condition.estimate,
    cached: Boolean(condition.cached),
    seeds: runs.length,
    calls: runs.length * CALLS,
    succeeded: runs.reduce((sum, r) => sum + r.succeeded, 0),
    ratio: { min: Math.min(...ratios), median: median(ratios), max: Math.max(...ratios) },
    medianMinimumMs: median(runs.map((r) => r.minimumMs)),
    medianFirstAnswerMs: median(runs.map((r) => r.firstAnswerMs)),
    rateLimitedAfterFirstAnswerPer1000: (runs.reduce((sum, r) => sum + r.rateLimitedAfterFirstAnswer, 0) / (runs.length * CALLS)) * 1000,
    worstSeedPer1000: Math.max(...runs.map(per1000)),
    rateLimited: runs.reduce((sum, r) => sum + r.rateLimited, 0),
    runs,
  };
}

export async function runReal({ log = console.log } = {}) {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  const deadline = setTimeout(() => controller.abort(new Error("benchmark deadline")), DEADLINE_MS * ROUNDS);
  // How late timers fire while the bursts share this process.
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const started = Date.now();
  const seeds = Array.from({ length: SEEDS }, (_, i) => i + 1);
  const runs = CONDITIONS.map(() => []);
  const perRound = Math.ceil(SEEDS / ROUNDS);
  for (let round = 0; round < ROUNDS; round++) {
    const roundSeeds = seeds.slice(round * perRound, (round + 1) * perRound);
    // Seed by seed, each seed's conditions in an order turned by one (by
    // the seed, across rounds): a burst started late in a round meets the
    // others' load at its start, and so the conditions meet it about alike.
    const bursts = roundSeeds.flatMap((seed) => CONDITIONS.map((_, c) => {
      const i = (c + seed - 1) % CONDITIONS.length;
      return { condition: CONDITIONS[i], seed, runs: runs[i] };
    }));
    const results = await Promise.all(bursts.map(({ condition, seed, runs }, j) =>
      burst(condition, seed, controller.signal, j * STAGGER_MS).then((r) => runs.push(r)),
    ));
    log(`  round ${round + 1} of ${ROUNDS}: seeds ${roundSeeds.join(", ")}, ${results.length} bursts (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  }
  clearTimeout(deadline);
  delay.disable();
  const rows = CONDITIONS.map((condition, i) => summarize(condition, runs[i].sort((a, b) => a.seed - b.seed)));
  for (const r of rows) {
    log(`  ${r.name}: ${r.ratio.min.toFixed(3)} / ${r.ratio.median.toFixed(3)} / ${r.ratio.max.toFixed(3)}×, 429s after the first answer ${r.rateLimitedAfterFirstAnswerPer1000.toFixed(1)} per 1,000 (worst seed ${r.worstSeedPer1000.toFixed(0)}), ${r.succeeded}/${r.calls} answered`);
  }
  return {
    mock: { ...MOCK, scale: SCALE, calls: CALLS, seeds: SEEDS, rounds: ROUNDS, staggerMs: STAGGER_MS, systemTokens: SYSTEM_TOKENS },
    durationMs: Date.now() - started,
    eventLoopDelayMs: { p50: delay.percentile(50) / 1e6, p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 },
    rows,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await runReal();
