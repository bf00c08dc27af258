// The mock API's own features: the IETF and GitHub dialects with window
// refill, 529 overload bursts, background traffic, the limit assertion, the
// command line, and the real conditions (latency ranges, headers at
// admission, output refunds, the prompt cache). Each test runs in well under a second.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Throttler } from "headroom";
import { cacheBreakpoints, countInputTokens, parseCliArgs, startMockApi, theoreticalMinimumMs } from "../../mock/api.mjs";

const call = (api, body = {}) =>
  fetch(`${api.url}/v1/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "m", max_tokens: 10, messages: [{ role: "user", content: "hi" }], ...body }),
  });

test("the ietf dialect sends RateLimit-Policy and RateLimit structured fields per dimension", async () => {
  const api = await startMockApi({ dialect: "ietf", limits: { requestsPerMinute: 2 }, windowMs: 4000, latencyMs: 1, roundTokens: false });
  try {
    const response = await call(api);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("ratelimit-policy"), '"requests";q=2;w=4, "input-tokens";q=80000;w=4, "output-tokens";q=16000;w=4');
    assert.match(response.headers.get("ratelimit"), /^"requests";r=1;t=[34], "input-tokens";r=79998;t=[34], "output-tokens";r=15990;t=[34]$/);
  } finally {
    await api.close();
  }
});

test("the github dialect reports requests with an epoch-second reset and refills by window", async () => {
  const api = await startMockApi({ dialect: "github", limits: { requestsPerMinute: 2 }, windowMs: 300, latencyMs: 1 });
  try {
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await call(api)).status);
    assert.deepEqual(statuses, [200, 200, 429]);
    const response = await call(api);
    assert.equal(response.headers.get("x-ratelimit-limit"), "2");
    assert.equal(response.headers.get("x-ratelimit-remaining"), "0");
    assert.equal(response.headers.get("x-ratelimit-used"), "2");
    assert.equal(response.headers.get("x-ratelimit-resource"), "core");
    const reset = Number(response.headers.get("x-ratelimit-reset"));
    assert.ok(Number.isInteger(reset) && Math.abs(reset - Date.now() / 1000) < 2, `reset ${reset}`);
    // Nothing trickles back before the window ends; all of it after.
    assert.equal(api.levels("m").requests.level, 0);
    await new Promise((resolve) => setTimeout(resolve, 320));
    assert.equal(api.levels("m").requests.level, 2);
    assert.equal((await call(api)).status, 200);
  } finally {
    await api.close();
  }
});

test("window refill has its own theoretical minimum: one limit per window", () => {
  const calls = Array.from({ length: 5 }, () => ({ input_tokens: 0, output_tokens: 0 }));
  const options = { dialect: "github", limits: { requestsPerMinute: 2 }, windowMs: 1000, latencyMs: 0 };
  assert.equal(theoreticalMinimumMs(calls, options), 2000);
  assert.equal(theoreticalMinimumMs(calls, { ...options, dialect: "anthropic" }), 1500);
});

test("an overload schedule answers 529 overloaded_error without taking budget", async () => {
  const api = await startMockApi({ overload: { schedule: [{ atMs: 0, durationMs: 200 }] }, latencyMs: 1 });
  try {
    const response = await call(api);
    assert.equal(response.status, 529);
    assert.equal((await response.json()).error.type, "overloaded_error");
    assert.equal(api.stats().overloaded, 1);
    assert.equal(api.stats().admitted, 0);
    assert.equal(api.levels("m").requests.level, api.levels("m").requests.limit);
    await new Promise((resolve) => setTimeout(resolve, 220));
    assert.equal((await call(api)).status, 200);
  } finally {
    await api.close();
  }
});

test("overload by probability starts bursts of the given length", async () => {
  const api = await startMockApi({ overload: { probability: 1, burstMs: 100 }, latencyMs: 1 });
  try {
    const statuses = await Promise.all(Array.from({ length: 4 }, () => call(api).then((r) => r.status)));
    assert.deepEqual(statuses, [529, 529, 529, 529]);
  } finally {
    await api.close();
  }
});

test("background traffic spends the shared budget and is counted apart", async () => {
  const api = await startMockApi({
    limits: { requestsPerMinute: 5 }, windowMs: 60_000, latencyMs: 1,
    background: { callsPerSecond: 100, inputTokens: 10, outputTokens: 10, model: "m" },
  });
  try {
    await new Promise((resolve) => setTimeout(resolve, 150));
    const stats = api.stats();
    assert.equal(stats.background.admitted, 5, JSON.stringify(stats));
    assert.ok(stats.background.refused > 0);
    assert.equal(stats.admitted, 0);
    assert.equal((await call(api)).status, 429, "the other client left no room");
    assert.equal(api.stats().refused, 1);
  } finally {
    await api.close();
  }
});

test("assertWithinLimits passes while every admitted call fits, and names the overdraft when not", async () => {
  const api = await startMockApi({ limits: { requestsPerMinute: 2 }, latencyMs: 1, enforce: false });
  try {
    assert.equal((await call(api)).status, 200);
    assert.equal((await call(api)).status, 200);
    api.assertWithinLimits();
    assert.equal((await call(api)).status, 200, "enforce: false admits the call over the limit");
    assert.equal(api.stats().overdrawn, 1);
    assert.ok(api.limitReport().minLevels.requests < 0);
    assert.throws(() => api.assertWithinLimits(), /1 admitted call\(s\) exceeded a limit: requests reached -/);
  } finally {
    await api.close();
  }
});

test("headroom keeps a burst within a window limit that the server does not enforce", async () => {
  const api = await startMockApi({ dialect: "ietf", limits: { requestsPerMinute: 4 }, windowMs: 400, latencyMs: 5, enforce: false });
  try {
    const throttler = new Throttler({ maxConcurrent: 8 });
    const statuses = await Promise.all(Array.from({ length: 10 }, () => throttler.fetch(`${api.url}/v1/messages`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "m", max_tokens: 1, messages: [] }),
    }).then((r) => r.status)));
    assert.deepEqual(new Set(statuses), new Set([200]));
    api.assertWithinLimits();
  } finally {
    await api.close();
  }
});

test("the command line sets limits, window, latency and dialect, and rejects a bad value", async () => {
  const options = parseCliArgs(["--port", "0", "--rpm", "5", "--output-tpm", "900", "--window-ms", "2000", "--latency-ms", "3", "--dialect", "github", "--no-round"]);
  assert.deepEqual(options, { port: 0, limits: { requestsPerMinute: 5, outputTokensPerMinute: 900 }, windowMs: 2000, latencyMs: 3, dialect: "github", roundTokens: false });
  assert.throws(() => parseCliArgs(["--dialect", "smtp"]), /--dialect to be one of/);
  assert.throws(() => parseCliArgs(["--rpm=-1"]), /--rpm to be a number from 0, got -1/);

  const script = fileURLToPath(new URL("../../mock/api.mjs", import.meta.url));
  const child = spawn(process.execPath, [script, "--port", "0", "--rpm", "1", "--dialect", "github"], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the mock API printed no URL within 5 s")), 5000);
      child.stdout.on("data", (chunk) => {
        const match = /http:\/\/127\.0\.0\.1:\d+/.exec(String(chunk));
        if (match) { clearTimeout(timer); resolve(match[0]); }
      });
    });
    assert.equal((await call({ url })).status, 200);
    assert.equal((await call({ url })).status, 429);
  } finally {
    child.kill("SIGTERM");
  }
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const remaining = (response, name) => Number(response.headers.get(`anthropic-ratelimit-${name}-remaining`));

test("a latency range draws each answer's time log-uniformly, the same for the same seed", async () => {
  const draw = async (seed) => {
    const api = await startMockApi({ latencyMs: [20, 120], seed });
    try {
      const started = Date.now();
      for (let i = 0; i < 6; i++) await call(api);
      const latencies = api.charged("m").map((c) => c.latencyMs);
      return { latencies, elapsed: Date.now() - started };
    } finally {
      await api.close();
    }
  };
  const first = await draw(7);
  assert.deepEqual((await draw(7)).latencies, first.latencies);
  assert.notDeepEqual((await draw(8)).latencies, first.latencies);
  assert.ok(first.latencies.every((ms) => ms >= 20 && ms <= 120), String(first.latencies));
  assert.ok(new Set(first.latencies).size === 6);
  assert.ok(first.elapsed >= first.latencies.reduce((a, b) => a + b, 0) - 5, "each answer waited its drawn time");
  const mean = (120 - 20) / Math.log(6);
  const calls = [{ input_tokens: 0, output_tokens: 0 }];
  assert.ok(Math.abs(theoreticalMinimumMs(calls, { latencyMs: [20, 120] }) - mean) < 1e-9);
});

test("an answer whose rate-limit headers were counted at admission is dated when it is sent", async () => {
  const api = await startMockApi({ headersAt: "admission", latencyMs: 1500, roundTokens: false });
  try {
    const sent = Date.now();
    const response = await call(api);
    // `Date` has whole seconds: the answer leaves 1.5 s after admission,
    // so its second is past the one the call was sent in.
    assert.ok(Date.parse(response.headers.get("date")) >= Math.floor((sent + 1500) / 1000) * 1000, response.headers.get("date"));
  } finally {
    await api.close();
  }
});

test("headers at admission describe the buckets before a later call's charge; at the answer, after it", async () => {
  for (const headersAt of ["admission", "answer"]) {
    const api = await startMockApi({ headersAt, limits: { requestsPerMinute: 10 }, latencyMs: 150, roundTokens: false });
    try {
      const first = call(api);
      // The second call is sent once the first was admitted (not after a
      // fixed sleep: a first connection may take longer to open).
      while (api.stats().admitted < 1) await sleep(5);
      const second = call(api);
      const [a, b] = await Promise.all([first, second]);
      assert.equal(remaining(b, "requests"), 8, headersAt);
      assert.equal(remaining(a, "requests"), headersAt === "admission" ? 9 : 8, headersAt);
    } finally {
      await api.close();
    }
  }
});

test("an answer writes part of max_tokens, reports it, and gives the rest back to the output bucket", async () => {
  const api = await startMockApi({ outputFraction: [0.3, 0.3], headersAt: "admission", limits: { outputTokensPerMinute: 1000 }, windowMs: 1e9, latencyMs: 200, roundTokens: false });
  try {
    const pending = call(api, { max_tokens: 100 });
    while (api.stats().admitted < 1) await sleep(5);
    assert.equal(Math.round(api.levels("m").output_tokens.level), 900, "max_tokens is reserved at admission");
    assert.equal(api.charged("m")[0].output_tokens, 100);
    const response = await pending;
    assert.equal(remaining(response, "output-tokens"), 900, "the headers are as at admission");
    assert.equal((await response.json()).usage.output_tokens, 30);
    assert.equal(Math.round(api.levels("m").output_tokens.level), 970, "the unused 70 went back");
    assert.equal(api.charged("m")[0].output_tokens, 30);
  } finally {
    await api.close();
  }
});

test("the prompt cache: a prefix written by an answered call is read free of input tokens; concurrent calls and short prefixes miss", async () => {
  // Answers of 300 ms: the second of two calls sent 20 ms apart reaches the server before the first answer, however slow a first connection is.
  const api = await startMockApi({ promptCache: true, limits: { inputTokensPerMinute: 100_000 }, windowMs: 1e9, latencyMs: 300, roundTokens: false });
  const system = [{ type: "text", text: "y".repeat(8000), cache_control: { type: "ephemeral" } }];
  const cached = (text) => call(api, { system, messages: [{ role: "user", content: text }] });
  const usage = async (response) => (await response.json()).usage;
  try {
    const [prefix] = cacheBreakpoints({ model: "m", system });
    assert.ok(prefix.tokens > 2000 && prefix.tokens < 2010, String(prefix.tokens));
    const level = () => api.levels("m").input_tokens.level;
    const whole = countInputTokens({ system, messages: [{ role: "user", content: "one" }] });
    // Two calls at once both miss and both write.
    const [a, b] = await Promise.all([cached("one"), (async () => { await sleep(20); return cached("one"); })()]);
    for (const u of [await usage(a), await usage(b)]) {
      assert.deepEqual(u, { input_tokens: whole - prefix.tokens, output_tokens: 1, cache_creation_input_tokens: prefix.tokens, cache_read_input_tokens: 0 });
    }
    assert.equal(Math.round(100_000 - level()), 2 * whole, "a cache write counts against input tokens");
    const before = level();
    const read = await usage(await cached("two, longer"));
    const other = countInputTokens({ system, messages: [{ role: "user", content: "two, longer" }] });
    assert.deepEqual(read, { input_tokens: other - prefix.tokens, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: prefix.tokens });
    assert.equal(Math.round(before - level()), other - prefix.tokens, "a cache read does not count against input tokens");
    assert.equal(api.charged("m")[2].cache_read_input_tokens, prefix.tokens);
    // Another model has a cache of its own; a prefix under the minimum is not cached.
    const short = [{ type: "text", text: "z".repeat(1000), cache_control: { type: "ephemeral" } }];
    assert.equal((await usage(await call(api, { model: "n", system }))).cache_read_input_tokens, 0);
    for (let i = 0; i < 2; i++) {
      assert.deepEqual(await usage(await call(api, { model: "s", system: short })), { input_tokens: countInputTokens({ system: short, messages: [{ role: "user", content: "hi" }] }), output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 });
    }
  } finally {
    await api.close();
  }
});

test("cache breakpoints follow tools, then system, then messages; a read of an earlier breakpoint writes only the rest", async () => {
  const tool = { name: "t", description: "d".repeat(4400), input_schema: { type: "object" }, cache_control: { type: "ephemeral", ttl: "1h" } };
  const system = [{ type: "text", text: "s".repeat(4400), cache_control: { type: "ephemeral" } }];
  const messages = (text) => [{ role: "user", content: [{ type: "text", text, cache_control: { type: "ephemeral" } }] }];
  const points = cacheBreakpoints({ model: "m", messages: messages("u".repeat(4400)), system, tools: [tool] });
  assert.deepEqual(points.map((p) => p.ttlMs), [3_600_000, 300_000, 300_000]);
  assert.ok(points[0].tokens > 1100 && points[0].tokens < points[1].tokens && points[1].tokens < points[2].tokens, JSON.stringify(points));
  assert.equal(points[0].key, cacheBreakpoints({ model: "m", tools: [tool], messages: [] })[0].key, "a prefix's key does not depend on what follows");
  assert.notEqual(points[0].key, cacheBreakpoints({ model: "n", tools: [tool] })[0].key, "nor is it shared between models");

  const api = await startMockApi({ promptCache: true, latencyMs: 20 });
  try {
    const usage = async (text) => (await (await call(api, { tools: [tool], system, messages: messages(text) })).json()).usage;
    const first = await usage("a".repeat(4400));
    assert.equal(first.cache_creation_input_tokens, cacheBreakpoints({ model: "m", tools: [tool], system, messages: messages("a".repeat(4400)) })[2].tokens);
    // Another last message: tools and system are read, the message is written.
    const second = await usage("b".repeat(4400));
    assert.equal(second.cache_read_input_tokens, points[1].tokens);
    assert.equal(second.cache_creation_input_tokens, points[2].tokens - points[1].tokens);
  } finally {
    await api.close();
  }
});
