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
// Or from a shell: node mock/api.mjs [--port 8787] (stops on Ctrl-C).
import http from "node:http";

const DEFAULTS = {
  limits: { requestsPerMinute: 1000, inputTokensPerMinute: 80_000, outputTokensPerMinute: 16_000 },
  latencyMs: 50,
  // The time in which each bucket refills from empty to its limit. The real
  // APIs use a minute; tests shorten it to run an over-limit burst quickly.
  windowMs: 60_000,
  // "anthropic" | "openai" | "none" (no rate-limit headers at all)
  dialect: "anthropic",
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

/** The server's own token count for a request body: 4 characters a token. */
export function countInputTokens(body) {
  let chars = 0;
  const walk = (v) => {
    if (typeof v === "string") chars += v.length;
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") Object.values(v).forEach(walk);
  };
  for (const key of ["system", "messages", "tools", "prompt", "input"]) walk(body?.[key]);
  return Math.ceil(chars / 4);
}

/**
 * The shortest time in which `calls` (each { input_tokens, output_tokens } as
 * this server counts them) can all be admitted, starting from full buckets:
 * for each bucket, what the burst needs beyond its limit, at its refill rate;
 * the slowest bucket decides, and the last answer still takes one latency.
 */
export function theoreticalMinimumMs(calls, options = {}) {
  const config = { ...DEFAULTS, ...options, limits: { ...DEFAULTS.limits, ...options.limits } };
  const need = {
    requestsPerMinute: calls.length,
    inputTokensPerMinute: calls.reduce((sum, c) => sum + c.input_tokens, 0),
    outputTokensPerMinute: calls.reduce((sum, c) => sum + c.output_tokens, 0),
  };
  const waits = Object.entries(need).map(([key, total]) => {
    const limit = config.limits[key];
    return (Math.max(0, total - limit) / limit) * config.windowMs;
  });
  return Math.max(...waits) + config.latencyMs;
}

// Answers in the shapes the official SDKs parse. The text is always "ok".
const anthropicMessage = ({ id, model, inputTokens }) => ({
  id, type: "message", role: "assistant", model,
  content: [{ type: "text", text: "ok" }], stop_reason: "end_turn", stop_sequence: null,
  usage: { input_tokens: inputTokens, output_tokens: 1 },
});

const sse = (event, data) => ({ chunk: `event: ${event}\ndata: ${JSON.stringify(data)}\n\n` });

function* anthropicStream({ id, model, inputTokens }) {
  yield sse("message_start", { type: "message_start", message: { ...anthropicMessage({ id, model, inputTokens }), content: [], stop_reason: null } });
  yield sse("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } });
  yield { ...sse("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "o" } }), afterFirstText: true };
  yield sse("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "k" } });
  yield sse("content_block_stop", { type: "content_block_stop", index: 0 });
  yield sse("message_delta", { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 1 } });
  yield sse("message_stop", { type: "message_stop" });
}

const openaiMessage = ({ id, model, inputTokens }) => ({
  id: `chatcmpl-${id}`, object: "chat.completion", created: Math.floor(Date.now() / 1000), model,
  choices: [{ index: 0, message: { role: "assistant", content: "ok", refusal: null }, logprobs: null, finish_reason: "stop" }],
  usage: { prompt_tokens: inputTokens, completion_tokens: 1, total_tokens: inputTokens + 1 },
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

class Bucket {
  constructor(limit, windowMs, now) {
    this.limit = limit;
    this.level = limit;
    this.at = now;
    this.perMs = limit / windowMs;
  }
  levelAt(now) {
    return Math.min(this.limit, this.level + (now - this.at) * this.perMs);
  }
  take(amount, now) {
    this.level = this.levelAt(now) - amount;
    this.at = now;
  }
  /** Milliseconds until `amount` is available. */
  waitFor(amount, now) {
    return Math.max(0, (amount - this.levelAt(now)) / this.perMs);
  }
  /** When the bucket is full again. */
  fullAt(now) {
    return now + (this.limit - this.levelAt(now)) / this.perMs;
  }
}

export async function startMockApi(options = {}) {
  const config = { ...DEFAULTS, ...options, limits: { ...DEFAULTS.limits, ...options.limits } };
  const models = new Map();
  const stats = { admitted: 0, refused: 0, inFlight: 0, peakInFlight: 0, received: 0, overdrawn: 0 };
  const now = () => Date.now();

  const bucketsFor = (model) => {
    if (!models.has(model)) {
      const t = now();
      const { requestsPerMinute, inputTokensPerMinute, outputTokensPerMinute } = config.limits;
      models.set(model, {
        requests: new Bucket(requestsPerMinute, config.windowMs, t),
        input_tokens: new Bucket(inputTokensPerMinute, config.windowMs, t),
        output_tokens: new Bucket(outputTokensPerMinute, config.windowMs, t),
      });
    }
    return models.get(model);
  };

  const rateHeaders = (buckets, t) => {
    const headers = { date: new Date(t + config.skewMs).toUTCString() };
    const round = (name, v) => (config.roundTokens && name !== "requests" ? Math.round(v / 1000) * 1000 : Math.floor(v));
    for (const [name, b] of Object.entries(buckets)) {
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
      }
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
      const cost = { requests: 1, input_tokens: countInputTokens(body), output_tokens: maxOutput };
      const waits = Object.entries(cost).map(([name, amount]) => buckets[name].waitFor(amount, t));
      const common = { ...config.headers, ...rateHeaders(buckets, t), "content-type": "application/json" };
      if (Math.max(...waits) > 0) {
        stats.refused++;
        res.writeHead(429, { ...common, "retry-after": String(Math.ceil(Math.max(...waits) / 1000)) });
        res.end(JSON.stringify({ type: "error", error: { type: "rate_limit_error", message: "Number of request tokens has exceeded your per-minute rate limit" } }));
        return;
      }
      for (const [name, amount] of Object.entries(cost)) buckets[name].take(amount, t);
      stats.admitted++;
      const id = `msg_${stats.admitted}`;
      stats.inFlight++;
      stats.peakInFlight = Math.max(stats.peakInFlight, stats.inFlight);
      setTimeout(async () => {
        const headers = { ...config.headers, ...rateHeaders(buckets, now()) };
        const openai = req.url.startsWith("/v1/chat/completions");
        const answer = { id, model: body.model ?? "default", inputTokens: cost.input_tokens };
        if (body.stream) {
          res.writeHead(200, { ...headers, "content-type": "text/event-stream", "cache-control": "no-cache" });
          for (const event of (openai ? openaiStream : anthropicStream)(answer)) {
            res.write(event.chunk);
            if (event.afterFirstText && config.holdStream) await config.holdStream;
            await new Promise((resolve) => setTimeout(resolve, config.streamIntervalMs));
          }
          res.end();
        } else {
          res.writeHead(200, { ...headers, "content-type": "application/json" });
          res.end(JSON.stringify((openai ? openaiMessage : anthropicMessage)(answer)));
        }
        stats.inFlight--;
      }, config.latencyMs);
    });
  });
  await new Promise((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    config,
    stats: () => ({ ...stats }),
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(() => resolve()); }),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const port = Number(process.argv[process.argv.indexOf("--port") + 1]) || 8787;
  const api = await startMockApi({ port });
  console.log(`mock API on ${api.url} (POST /v1/messages); Ctrl-C stops it`);
  process.on("SIGINT", async () => { await api.close(); process.exit(0); });
}
