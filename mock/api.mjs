// A loopback HTTP server that behaves like a rate-limited LLM API.
//
// Per model it keeps token buckets for requests, input tokens and output
// tokens, refilled continuously (the model Anthropic documents). A call that
// would take a bucket below zero gets a 429 with `retry-after`; every answer
// carries rate-limit headers. It counts what it admitted and refused and the
// most calls it had in flight, so a test can assert that a limit held.
//
//   import { startMockApi } from "./mock/api.mjs";
//   const api = await startMockApi({ limits: { requestsPerMinute: 60 } });
//   ... fetch(api.url + "/v1/messages", ...) ...
//   api.stats(); await api.close();
//
// Or from a shell: node mock/api.mjs --help (stops on Ctrl-C).
//
// By option it also answers in the OpenAI, IETF (`RateLimit-Policy` and
// `RateLimit`) or GitHub (`X-RateLimit-*`, epoch-second resets) dialect,
// refills by fixed windows instead of continuously, answers 529 in overload
// bursts, spends the same budget for a second client of its own (background
// traffic, counted apart), and records the lowest level each bucket reached,
// so `api.assertWithinLimits()` can prove no admitted call overdrew a limit.
//
// Closer to a real LLM API, by option: answers that take a seeded,
// log-uniform time from a range; rate-limit headers computed when a call is
// admitted and sent with its answer; answers that write part of their
// `max_tokens`, the rest going back to the output bucket; and Anthropic's
// prompt cache (reads of a marked prefix do not count against input tokens).
import { createHash } from "node:crypto";
import http from "node:http";
import { mediaTokens } from "./media.mjs";
import { generator, mix } from "./seeded.mjs";
import { parseArgs } from "node:util";

const DEFAULTS = {
  limits: { requestsPerMinute: 1000, inputTokensPerMinute: 80_000, outputTokensPerMinute: 16_000 },
  // Milliseconds from admission to the answer: a number, or [low, high] for
  // a time drawn log-uniformly for each admitted call (seeded by `seed`).
  latencyMs: 50,
  // Seeds the drawn latencies and output fractions: a run is repeatable.
  seed: 1,
  // "answer": the rate-limit headers of an answer describe the buckets when
  // it is written. "admission": those of a non-streamed answer describe them
  // as the call was admitted (Anthropic's), so they are up to a latency old,
  // while its `date` is the answer's own (RFC 9110: when the message was
  // made); a streamed answer's are taken when its first event is written.
  headersAt: "answer",
  // null: every answer writes 1 token and the output bucket keeps the whole
  // `max_tokens`. [low, high]: each answer writes that fraction of its
  // `max_tokens` (seeded, uniform), reports it as its usage, and the unused
  // part goes back to the output bucket when the answer is written.
  outputFraction: null,
  // Anthropic's prompt cache: the prompt up to a block marked
  // `cache_control` (tools, then system, then messages), once an earlier
  // call wrote it and that call's answer began, is a cache read, free
  // against input tokens; an entry lives 5 minutes after its last use (an
  // hour with `ttl: "1h"`); prefixes under MIN_CACHE_TOKENS are not cached.
  // Answers report `cache_creation_input_tokens` and `cache_read_input_tokens`.
  promptCache: false,
  // The time in which each bucket refills from empty to its limit. The real
  // APIs use a minute; tests shorten it to run an over-limit burst quickly.
  windowMs: 60_000,
  // "anthropic" | "openai" | "ietf" | "github" | "none" (no rate-limit headers at all)
  dialect: "anthropic",
  // "continuous" (Anthropic, OpenAI) or "window": a bucket stays put until its
  // window ends, then is full again. Default: "window" for the "ietf" and
  // "github" dialects, "continuous" otherwise.
  refill: null,
  // false admits every call, even one that overdraws a bucket, and only
  // records it (stats().overdrawn, limitReport()): for proving a client kept
  // to the limit without the server's 429s doing it for the client.
  enforce: true,
  // 529 overload bursts: { probability, burstMs, schedule: [{ atMs, durationMs }], seed }.
  // Each call outside a burst starts one with `probability`; the schedule
  // places bursts at fixed times after the server starts. Calls in a burst
  // get 529 `overloaded_error` and take no budget.
  overload: null,
  // Another client spending the same budget from inside the server:
  // { callsPerSecond, inputTokens, outputTokens, model }. Its calls are
  // refused when the budget has no room, like anyone's, and counted in
  // stats().background, not in admitted/refused.
  background: null,
  // Called with { t, model, status, cost, background, path } for each
  // decision (200, 429 or 529), for timelines (`path`: the request's path
  // and query; none for background calls).
  onAnswer: null,
  // Anthropic rounds remaining token counts to the nearest thousand.
  roundTokens: true,
  // Milliseconds the server's clock is ahead of ours (reported via Date).
  skewMs: 0,
  // Extra response headers, e.g. for CORS exposure in the browser tests.
  headers: {},
  // Milliseconds between the events of a streamed answer.
  streamIntervalMs: 5,
  // A promise a streamed answer waits for after its first text, so a test
  // can prove the client sees the stream before it ends.
  holdStream: null,
};

/**
 * The server's own token count for a request body: 4 characters a token of
 * text, and images and PDFs as the providers charge them (see media.mjs).
 */
export function countInputTokens(body) {
  let chars = 0;
  let media = 0;
  const walk = (v) => {
    const tokens = mediaTokens(v, body?.model);
    if (tokens !== null) media += tokens;
    else if (typeof v === "string") chars += v.length;
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") Object.values(v).forEach(walk);
  };
  for (const key of ["system", "messages", "tools", "prompt", "input"]) walk(body?.[key]);
  return Math.ceil(chars / 4) + media;
}

/** The smallest prefix the prompt cache keeps, in tokens (Anthropic's for most models). */
export const MIN_CACHE_TOKENS = 1024;

/**
 * The cache breakpoints of a request body, in the order Anthropic reads a
 * prompt (tools, system, messages): for each block marked `cache_control`,
 * the server's count of the prompt up to and including it (counted as
 * countInputTokens counts), a key for that prefix and model, and how long
 * an entry lives after its last use.
 */
export function cacheBreakpoints(body) {
  const hash = createHash("sha256").update(String(body?.model ?? ""));
  let chars = 0;
  let media = 0;
  const points = [];
  const walk = (v) => {
    const tokens = mediaTokens(v, body?.model);
    if (tokens !== null) {
      media += tokens;
      hash.update(`\0m${JSON.stringify(v)}`);
    } else if (typeof v === "string") {
      chars += v.length;
      hash.update(`\0s${v}`);
    } else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") {
      Object.values(v).forEach(walk);
      if (v.cache_control) {
        const ttlMs = v.cache_control.ttl === "1h" ? 3_600_000 : 300_000;
        points.push({ tokens: Math.ceil(chars / 4) + media, key: hash.copy().digest("hex"), ttlMs });
      }
    }
  };
  for (const key of ["tools", "system", "messages"]) walk(body?.[key]);
  return points;
}

/** The mean of a latency option: a number, or [low, high] drawn log-uniformly. */
export function meanLatencyMs(latency) {
  if (!Array.isArray(latency)) return latency;
  const [low, high] = latency;
  return high > low ? (high - low) / Math.log(high / low) : low;
}

/**
 * The shortest time in which `calls` (each { input_tokens, output_tokens } as
 * this server counts them) can all be admitted, starting from full buckets:
 * for each bucket, what the burst needs beyond its limit, at its refill rate;
 * the slowest bucket decides, and the last answer still takes one latency.
 * With window refill, a bucket admits its limit once per window.
 */
export function theoreticalMinimumMs(calls, options = {}) {
  const config = { ...DEFAULTS, ...options, limits: { ...DEFAULTS.limits, ...options.limits } };
  const need = {
    requestsPerMinute: calls.length,
    inputTokensPerMinute: calls.reduce((sum, c) => sum + c.input_tokens, 0),
    outputTokensPerMinute: calls.reduce((sum, c) => sum + c.output_tokens, 0),
  };
  const window = refillOf(config) === "window";
  const waits = Object.entries(need).map(([key, total]) => {
    const limit = config.limits[key];
    if (!(limit > 0 && Number.isFinite(limit))) return 0;
    if (window) return Math.max(0, Math.ceil(total / limit) - 1) * config.windowMs;
    return (Math.max(0, total - limit) / limit) * config.windowMs;
  });
  return Math.max(...waits) + meanLatencyMs(config.latencyMs);
}

const refillOf = (config) => config.refill ?? (config.dialect === "ietf" || config.dialect === "github" ? "window" : "continuous");

// Answers in the shapes the official SDKs parse. The text is always "ok".
const anthropicMessage = ({ id, model, inputTokens, outputTokens = 1, cache }) => ({
  id, type: "message", role: "assistant", model,
  content: [{ type: "text", text: "ok" }], stop_reason: "end_turn", stop_sequence: null,
  usage: { input_tokens: inputTokens, output_tokens: outputTokens, ...cache },
});

const sse = (event, data) => ({ chunk: `event: ${event}\ndata: ${JSON.stringify(data)}\n\n` });

function* anthropicStream({ id, model, inputTokens, outputTokens = 1, cache }) {
  yield sse("message_start", { type: "message_start", message: { ...anthropicMessage({ id, model, inputTokens, cache }), content: [], stop_reason: null } });
  yield sse("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } });
  yield { ...sse("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "o" } }), afterFirstText: true };
  yield sse("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "k" } });
  yield sse("content_block_stop", { type: "content_block_stop", index: 0 });
  yield sse("message_delta", { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: outputTokens } });
  yield sse("message_stop", { type: "message_stop" });
}

const openaiMessage = ({ id, model, inputTokens, outputTokens = 1 }) => ({
  id: `chatcmpl-${id}`, object: "chat.completion", created: Math.floor(Date.now() / 1000), model,
  choices: [{ index: 0, message: { role: "assistant", content: "ok", refusal: null }, logprobs: null, finish_reason: "stop" }],
  usage: { prompt_tokens: inputTokens, completion_tokens: outputTokens, total_tokens: inputTokens + outputTokens },
});

function* openaiStream({ id, model }) {
  const chunk = (delta, finish_reason = null) => ({
    chunk: `data: ${JSON.stringify({ id: `chatcmpl-${id}`, object: "chat.completion.chunk", created: Math.floor(Date.now() / 1000), model, choices: [{ index: 0, delta, logprobs: null, finish_reason }] })}\n\n`,
  });
  yield chunk({ role: "assistant", content: "" });
  yield { ...chunk({ content: "o" }), afterFirstText: true };
  yield chunk({ content: "k" });
  yield chunk({}, "stop");
  yield { chunk: "data: [DONE]\n\n" };
}

// A limit that is not a positive finite number (Infinity, 0, null) means
// the dimension is not limited: its bucket is always full and not reported.
class Bucket {
  constructor(limit, windowMs, now, refill = "continuous") {
    this.unlimited = !(limit > 0 && Number.isFinite(limit));
    this.limit = limit;
    this.level = limit;
    this.at = now;
    this.perMs = limit / windowMs;
    this.window = refill === "window";
    this.windowMs = windowMs;
    this.windowEnd = now + windowMs;
  }
  levelAt(now) {
    if (this.unlimited) return Infinity;
    if (this.window) {
      if (now >= this.windowEnd) {
        this.windowEnd += Math.ceil((now - this.windowEnd + 1) / this.windowMs) * this.windowMs;
        this.level = this.limit;
      }
      return this.level;
    }
    return Math.min(this.limit, this.level + (now - this.at) * this.perMs);
  }
  take(amount, now) {
    if (this.unlimited) return;
    this.level = this.levelAt(now) - amount;
    this.at = now;
  }
  /** Puts back `amount` (what an answer did not use), up to the limit. */
  give(amount, now) {
    if (this.unlimited) return;
    this.level = Math.min(this.limit, this.levelAt(now) + amount);
    this.at = now;
  }
  /** Milliseconds until `amount` is available. */
  waitFor(amount, now) {
    if (this.unlimited) return 0;
    const level = this.levelAt(now);
    if (this.window) return level >= amount ? 0 : amount > this.limit ? Infinity : this.windowEnd - now;
    return Math.max(0, (amount - level) / this.perMs);
  }
  /** When the bucket is full again. */
  fullAt(now) {
    if (this.window) return this.levelAt(now) >= this.limit ? now : this.windowEnd;
    return now + (this.limit - this.levelAt(now)) / this.perMs;
  }
}

export async function startMockApi(options = {}) {
  const config = { ...DEFAULTS, ...options, limits: { ...DEFAULTS.limits, ...options.limits } };
  const models = new Map();
  const stats = {
    admitted: 0, refused: 0, inFlight: 0, peakInFlight: 0, received: 0, overdrawn: 0, overloaded: 0,
    background: { admitted: 0, refused: 0 },
  };
  const now = () => Date.now();
  const startedAt = now();
  const refill = refillOf(config);
  // The lowest level each dimension reached right after an admitted call
  // took its cost, over every model: below 0 means a limit was exceeded.
  const minLevels = { requests: Infinity, input_tokens: Infinity, output_tokens: Infinity };

  const bucketsFor = (model) => {
    if (!models.has(model)) {
      const t = now();
      const { requestsPerMinute, inputTokensPerMinute, outputTokensPerMinute } = config.limits;
      models.set(model, {
        requests: new Bucket(requestsPerMinute, config.windowMs, t, refill),
        input_tokens: new Bucket(inputTokensPerMinute, config.windowMs, t, refill),
        output_tokens: new Bucket(outputTokensPerMinute, config.windowMs, t, refill),
      });
    }
    return models.get(model);
  };

  /** Decides one call at `t`: 0 when admitted (its cost taken), else the wait in ms. */
  const admit = (buckets, cost, t) => {
    const wait = Math.max(...Object.entries(cost).map(([name, amount]) => buckets[name].waitFor(amount, t)));
    if (wait > 0 && config.enforce) return wait;
    for (const [name, amount] of Object.entries(cost)) {
      const bucket = buckets[name];
      bucket.take(amount, t);
      if (bucket.unlimited) continue;
      minLevels[name] = Math.min(minLevels[name], bucket.level);
    }
    if (wait > 0) stats.overdrawn++;
    return 0;
  };

  // Each admitted call's latency and the fraction of its max_tokens it
  // writes, each from a generator of its own seeded by `seed`.
  const latencyRandom = generator(mix(config.seed, "latency"));
  const outputRandom = generator(mix(config.seed, "output"));
  const drawLatency = () => {
    if (!Array.isArray(config.latencyMs)) return config.latencyMs;
    const [low, high] = config.latencyMs;
    return low * (high / low) ** latencyRandom();
  };
  const drawOutput = (maxOutput) => {
    if (!config.outputFraction) return 1;
    const [low, high] = config.outputFraction;
    return Math.min(maxOutput, Math.max(1, Math.round(maxOutput * (low + (high - low) * outputRandom()))));
  };

  // The prompt cache: prefix key -> { readableAt, expiresAt }.
  const cache = new Map();
  /** What of `body`'s prompt is read from the cache at `t`, and what it writes. */
  const cacheUse = (body, t) => {
    if (!config.promptCache) return null;
    const points = cacheBreakpoints(body).filter((p) => p.tokens >= MIN_CACHE_TOKENS);
    const live = (p) => {
      const entry = cache.get(p.key);
      return entry && entry.readableAt <= t && entry.expiresAt > t;
    };
    const read = Math.max(0, ...points.filter(live).map((p) => p.tokens));
    return { points, read, write: Math.max(0, (points.at(-1)?.tokens ?? 0) - read) };
  };
  /** An admitted call's use of the cache: reads refresh their entries; its writes are readable once its answer begins. */
  const cacheAdmitted = (use, t, answerAt) => {
    for (const p of use.points) {
      const entry = cache.get(p.key);
      const alive = entry && entry.expiresAt > t;
      if (p.tokens <= use.read) {
        if (alive) entry.expiresAt = Math.max(entry.expiresAt, t + p.ttlMs);
      } else cache.set(p.key, {
        readableAt: alive ? Math.min(entry.readableAt, answerAt) : answerAt,
        expiresAt: Math.max(alive ? entry.expiresAt : 0, answerAt + p.ttlMs),
      });
    }
  };

  // What each admitted call was charged, per model, net of what its answer
  // gave back: what a minimum is computed from.
  const charges = new Map();

  // Overload bursts: a seeded generator, so a run can be repeated.
  let overloadSeed = config.overload?.seed ?? 1;
  const overloadRandom = () => ((overloadSeed = (overloadSeed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  let overloadedUntil = 0;
  const overloaded = (t) => {
    const o = config.overload;
    if (!o) return false;
    if (t < overloadedUntil) return true;
    const since = t - startedAt;
    if ((o.schedule ?? []).some(({ atMs, durationMs }) => since >= atMs && since < atMs + durationMs)) return true;
    if (o.probability > 0 && overloadRandom() < o.probability) {
      overloadedUntil = t + (o.burstMs ?? 1000);
      return true;
    }
    return false;
  };

  // Background traffic: another client of the same key, inside the server.
  let backgroundTimer = null;
  if (config.background?.callsPerSecond > 0) {
    const b = config.background;
    const cost = { requests: 1, input_tokens: b.inputTokens ?? 0, output_tokens: b.outputTokens ?? 0 };
    backgroundTimer = setInterval(() => {
      const t = now();
      const model = b.model ?? "default";
      const wait = admit(bucketsFor(model), cost, t);
      stats.background[wait > 0 ? "refused" : "admitted"]++;
      config.onAnswer?.({ t, model, status: wait > 0 ? 429 : 200, cost, background: true });
    }, Math.max(1, 1000 / b.callsPerSecond));
    backgroundTimer.unref?.();
  }

  const rateHeaders = (buckets, t) => {
    const headers = { date: new Date(t + config.skewMs).toUTCString() };
    const round = (name, v) => (config.roundTokens && name !== "requests" ? Math.round(v / 1000) * 1000 : Math.floor(v));
    const policies = [];
    const limits = [];
    for (const [name, b] of Object.entries(buckets)) {
      if (b.unlimited) continue;
      const remaining = Math.max(0, round(name, b.levelAt(t)));
      const reset = b.fullAt(t) + config.skewMs;
      if (config.dialect === "anthropic") {
        const dashed = name.replace("_", "-");
        headers[`anthropic-ratelimit-${dashed}-limit`] = String(b.limit);
        headers[`anthropic-ratelimit-${dashed}-remaining`] = String(remaining);
        headers[`anthropic-ratelimit-${dashed}-reset`] = new Date(Math.ceil(reset / 1000) * 1000).toISOString().replace(".000", "");
      } else if (config.dialect === "openai" && name !== "output_tokens") {
        const key = name === "requests" ? "requests" : "tokens";
        headers[`x-ratelimit-limit-${key}`] = String(b.limit);
        headers[`x-ratelimit-remaining-${key}`] = String(remaining);
        headers[`x-ratelimit-reset-${key}`] = `${((reset - t - config.skewMs) / 1000).toFixed(3)}s`;
      } else if (config.dialect === "ietf") {
        // draft-ietf-httpapi-ratelimit-headers-11 §3, §4: one List member per
        // policy; `w` the window and `t` the delay until the quota is back,
        // both in whole seconds.
        const policy = `"${name.replace("_", "-")}"`;
        policies.push(`${policy};q=${b.limit};w=${Math.max(1, Math.round(config.windowMs / 1000))}`);
        limits.push(`${policy};r=${remaining};t=${Math.max(0, Math.ceil((reset - config.skewMs - t) / 1000))}`);
      } else if (config.dialect === "github" && name === "requests") {
        // GitHub's REST API: one resource's requests, the reset in epoch seconds.
        headers["x-ratelimit-limit"] = String(b.limit);
        headers["x-ratelimit-remaining"] = String(remaining);
        headers["x-ratelimit-used"] = String(Math.max(0, b.limit - remaining));
        headers["x-ratelimit-reset"] = String(Math.ceil(reset / 1000));
        headers["x-ratelimit-resource"] = "core";
      }
    }
    if (policies.length) {
      headers["ratelimit-policy"] = policies.join(", ");
      headers["ratelimit"] = limits.join(", ");
    }
    return headers;
  };

  const server = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (chunk) => (raw += chunk));
    req.on("end", () => {
      stats.received++;
      let body = {};
      try {
        body = raw ? JSON.parse(raw) : {};
      } catch {}
      const t = now();
      const buckets = bucketsFor(body.model ?? "default");
      const maxOutput = body.max_tokens ?? body.max_completion_tokens ?? body.max_output_tokens ?? 0;
      const prompt = countInputTokens(body);
      const use = cacheUse(body, t);
      // A cache read does not count against input tokens per minute.
      const cost = { requests: 1, input_tokens: prompt - (use?.read ?? 0), output_tokens: maxOutput };
      const model = body.model ?? "default";
      if (overloaded(t)) {
        stats.overloaded++;
        config.onAnswer?.({ t, model, status: 529, cost, background: false, path: req.url });
        res.writeHead(529, { ...config.headers, ...rateHeaders(buckets, t), "content-type": "application/json" });
        res.end(JSON.stringify({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } }));
        return;
      }
      const wait = admit(buckets, cost, t);
      const common = { ...config.headers, ...rateHeaders(buckets, t), "content-type": "application/json" };
      config.onAnswer?.({ t, model, status: wait > 0 ? 429 : 200, cost, background: false, path: req.url });
      if (wait > 0) {
        stats.refused++;
        const seconds = Number.isFinite(wait) ? Math.ceil(wait / 1000) : Math.ceil(config.windowMs / 1000);
        res.writeHead(429, { ...common, "retry-after": String(seconds) });
        res.end(JSON.stringify({ type: "error", error: { type: "rate_limit_error", message: "Number of request tokens has exceeded your per-minute rate limit" } }));
        return;
      }
      stats.admitted++;
      const id = `msg_${stats.admitted}`;
      stats.inFlight++;
      stats.peakInFlight = Math.max(stats.peakInFlight, stats.inFlight);
      const latencyMs = drawLatency();
      const written = drawOutput(maxOutput);
      if (use) cacheAdmitted(use, t, t + latencyMs);
      const charge = {
        input_tokens: cost.input_tokens, output_tokens: maxOutput, latencyMs,
        ...(use && { cache_read_input_tokens: use.read, cache_creation_input_tokens: use.write }),
      };
      if (!charges.has(model)) charges.set(model, []);
      charges.get(model).push(charge);
      // The unused part of max_tokens goes back when the answer is written.
      const refund = () => {
        if (!config.outputFraction) return;
        buckets.output_tokens.give(maxOutput - written, now());
        charge.output_tokens = written;
      };
      const admittedHeaders = config.headersAt === "admission" ? rateHeaders(buckets, t) : null;
      setTimeout(async () => {
        const openai = req.url.startsWith("/v1/chat/completions");
        const answer = {
          id, model, inputTokens: prompt - (use ? use.read + use.write : 0), outputTokens: config.outputFraction ? written : 1,
          cache: use && { cache_creation_input_tokens: use.write, cache_read_input_tokens: use.read },
        };
        if (body.stream) {
          res.writeHead(200, { ...config.headers, ...rateHeaders(buckets, now()), "content-type": "text/event-stream", "cache-control": "no-cache" });
          for (const event of (openai ? openaiStream : anthropicStream)(answer)) {
            res.write(event.chunk);
            if (event.afterFirstText && config.holdStream) await config.holdStream;
            await new Promise((resolve) => setTimeout(resolve, config.streamIntervalMs));
          }
          refund();
          res.end();
        } else {
          refund();
          res.writeHead(200, { ...config.headers, ...(admittedHeaders ? { ...admittedHeaders, date: new Date(now() + config.skewMs).toUTCString() } : rateHeaders(buckets, now())), "content-type": "application/json" });
          res.end(JSON.stringify((openai ? openaiMessage : anthropicMessage)(answer)));
        }
        stats.inFlight--;
      }, latencyMs);
    });
  });
  await new Promise((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    config,
    stats: () => ({ ...stats, background: { ...stats.background } }),
    /** The level of each bucket of `model` now (what the server would admit). */
    levels: (model = "default") => {
      const t = now();
      return Object.fromEntries(Object.entries(bucketsFor(model)).map(([name, b]) => [name, { limit: b.limit, level: b.levelAt(t) }]));
    },
    /**
     * What each admitted call of `model` was charged, in admission order:
     * { input_tokens (cache reads excluded), output_tokens (net of what its
     * answer gave back, once written), latencyMs }, with the cache's reads
     * and writes when `promptCache` is on.
     */
    charged: (model = "default") => (charges.get(model) ?? []).map((c) => ({ ...c })),
    /** The lowest level each dimension reached after an admitted call, and how often one was overdrawn. */
    limitReport: () => ({ minLevels: { ...minLevels }, overdrawn: stats.overdrawn, admitted: stats.admitted, refused: stats.refused }),
    /** Throws unless every admitted call (the background's too) left every bucket at 0 or above. */
    assertWithinLimits: () => {
      const below = Object.entries(minLevels).filter(([, level]) => level < -1e-9);
      if (below.length) {
        const detail = below.map(([name, level]) => `${name} reached ${level.toFixed(1)}`).join(", ");
        throw new Error(`mock API: ${stats.overdrawn} admitted call(s) exceeded a limit: ${detail}`);
      }
    },
    close: () => new Promise((resolve) => {
      clearInterval(backgroundTimer);
      server.closeAllConnections?.();
      server.close(() => resolve());
    }),
  };
}

const USAGE = `Usage: node mock/api.mjs [options]   (stops on Ctrl-C)
  --port N              port on 127.0.0.1 (default 8787)
  --rpm N               requests per window (default ${DEFAULTS.limits.requestsPerMinute})
  --input-tpm N         input tokens per window (default ${DEFAULTS.limits.inputTokensPerMinute})
  --output-tpm N        output tokens per window (default ${DEFAULTS.limits.outputTokensPerMinute})
  --window-ms N         refill window (default ${DEFAULTS.windowMs})
  --latency-ms N        time to answer an admitted call (default ${DEFAULTS.latencyMs})
  --dialect NAME        anthropic | openai | ietf | github | none (default ${DEFAULTS.dialect})
  --refill NAME         continuous | window (default: by dialect)
  --no-round            report exact token counts instead of thousands
  --skew-ms N           the server's clock ahead of ours (default 0)
  --overload P          start a 529 burst on a call with probability P
  --overload-burst-ms N length of each overload burst (default 1000)
  --background-rps N    another client's calls per second on the same budget
  --background-input N  input tokens of each background call (default 0)
  --background-output N output tokens of each background call (default 0)`;

/** Options for startMockApi from command-line arguments; throws on a bad one. */
export function parseCliArgs(argv) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: Object.fromEntries(
      ["port", "rpm", "input-tpm", "output-tpm", "window-ms", "latency-ms", "dialect", "refill", "skew-ms",
        "overload", "overload-burst-ms", "background-rps", "background-input", "background-output"]
        .map((name) => [name, { type: "string" }])
        .concat([["no-round", { type: "boolean" }], ["help", { type: "boolean" }]]),
    ),
  });
  const number = (name) => {
    if (values[name] === undefined) return undefined;
    const n = Number(values[name]);
    if (!Number.isFinite(n) || n < 0) throw new Error(`mock API: expected --${name} to be a number from 0, got ${values[name]}`);
    return n;
  };
  const dialects = ["anthropic", "openai", "ietf", "github", "none"];
  if (values.dialect !== undefined && !dialects.includes(values.dialect)) {
    throw new Error(`mock API: expected --dialect to be one of ${dialects.join(", ")}, got ${values.dialect}`);
  }
  if (values.refill !== undefined && !["continuous", "window"].includes(values.refill)) {
    throw new Error(`mock API: expected --refill to be continuous or window, got ${values.refill}`);
  }
  const defined = (o) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  const options = defined({
    help: values.help,
    port: number("port") ?? 8787,
    limits: defined({ requestsPerMinute: number("rpm"), inputTokensPerMinute: number("input-tpm"), outputTokensPerMinute: number("output-tpm") }),
    windowMs: number("window-ms"),
    latencyMs: number("latency-ms"),
    dialect: values.dialect,
    refill: values.refill,
    roundTokens: values["no-round"] ? false : undefined,
    skewMs: number("skew-ms"),
  });
  if (values.overload !== undefined) options.overload = { probability: number("overload"), burstMs: number("overload-burst-ms") ?? 1000 };
  if (values["background-rps"] !== undefined) {
    options.background = { callsPerSecond: number("background-rps"), inputTokens: number("background-input") ?? 0, outputTokens: number("background-output") ?? 0 };
  }
  return options;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  let options;
  try {
    options = parseCliArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`${error.message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (options.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const api = await startMockApi(options);
  const { limits, windowMs, dialect } = api.config;
  console.log(`mock API on ${api.url} (POST /v1/messages, /v1/chat/completions); ${dialect} headers;`);
  console.log(`limits per ${windowMs / 1000} s: ${limits.requestsPerMinute} requests, ${limits.inputTokensPerMinute} input and ${limits.outputTokensPerMinute} output tokens; Ctrl-C stops it`);
  const stop = async () => { await api.close(); process.exit(0); };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
