// The Throttler as a Node user meets it: imported by its package name from
// the packed tarball, talking to servers on loopback.
import { test } from "node:test";
import assert from "node:assert/strict";
import { collectGarbage } from "../support/gc.mjs";
import { Throttler, HeadroomError } from "headroom";
import { startServer, sleep } from "../support/server.mjs";
import { startMockApi } from "../../mock/api.mjs";

const anthropicHeaders = ({ limit, remaining, resetInMs }) => ({
  "anthropic-ratelimit-requests-limit": String(limit),
  "anthropic-ratelimit-requests-remaining": String(remaining),
  "anthropic-ratelimit-requests-reset": new Date(Date.now() + resetInMs).toISOString(),
});

test("calls in flight never exceed maxConcurrent", async () => {
  const server = await startServer(async () => {
    await sleep(15);
    return { headers: anthropicHeaders({ limit: 10_000, remaining: 9_999, resetInMs: 6 }) };
  });
  try {
    const throttler = new Throttler({ maxConcurrent: 4 });
    const responses = await Promise.all(Array.from({ length: 40 }, () => throttler.fetch(server.url)));
    assert.equal(responses.length, 40);
    assert.ok(responses.every((r) => r.status === 200));
    assert.equal(server.peakInFlight(), 4, "the cap is reached and never passed");
    const snapshot = throttler.snapshot();
    assert.equal(snapshot.inFlight, 0);
    assert.equal(snapshot.queued, 0);
    assert.equal(snapshot.counters.dispatched, 40);
  } finally {
    await server.close();
  }
});

test("fetch works unbound, the way an SDK calls it", async () => {
  const server = await startServer(() => ({ body: "hello" }));
  try {
    const { fetch } = new Throttler();
    const response = await fetch(`${server.url}/path`, { method: "POST", body: "x" });
    assert.equal(await response.text(), "hello");
    assert.equal(server.log[0].url, "/path");
    assert.equal(server.log[0].body, "x");
  } finally {
    await server.close();
  }
});

test("a fetch taken off a throttler keeps working after the throttler is collected", async () => {
  const { fetch } = new Throttler({ fetch: async () => new Response("still here") });
  assert.equal(await (await fetch("http://127.0.0.1:1/")).text(), "still here");
  await collectGarbage(5, 10);
  assert.equal(await (await fetch("http://127.0.0.1:1/")).text(), "still here");
});

test("a call waits while the remaining budget is 0 and goes at the reset", async () => {
  let resetAt = 0;
  const server = await startServer((_, index) => {
    if (index === 0) {
      resetAt = Date.now() + 400;
      return { headers: { ...anthropicHeaders({ limit: 1, remaining: 0, resetInMs: 0 }), "anthropic-ratelimit-requests-reset": new Date(resetAt).toISOString() } };
    }
    return { headers: anthropicHeaders({ limit: 1, remaining: 0, resetInMs: 400 }) };
  });
  try {
    const throttler = new Throttler();
    await throttler.fetch(server.url);
    const waiting = throttler.fetch(server.url);
    await sleep(50);
    assert.equal(throttler.snapshot().queued, 1, "the second call is held back");
    assert.equal(server.log.length, 1, "and not sent");
    await waiting;
    assert.equal(server.log.length, 2);
    // RFC 3339 in the header carries milliseconds, so the reset is exact.
    assert.ok(server.log[1].at >= resetAt, `sent ${resetAt - server.log[1].at} ms before the reset`);
  } finally {
    await server.close();
  }
});

test("the headers of each response are read into the budget", async () => {
  const server = await startServer(() => ({
    headers: {
      "x-ratelimit-limit-requests": "500",
      "x-ratelimit-remaining-requests": "499",
      "x-ratelimit-reset-requests": "120ms",
      "x-ratelimit-limit-tokens": "30000",
      "x-ratelimit-remaining-tokens": "29000",
      "x-ratelimit-reset-tokens": "2s",
    },
  }));
  try {
    const throttler = new Throttler();
    await throttler.fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      body: JSON.stringify({ model: "gpt-test", max_completion_tokens: 100, messages: [{ role: "user", content: "hi" }] }),
    });
    const [partition] = throttler.snapshot().partitions;
    assert.equal(partition.key, `${server.url} gpt-test`, "partitioned by origin and model");
    const byName = Object.fromEntries(partition.dimensions.map((d) => [d.name, d]));
    assert.equal(byName.requests.limit, 500);
    assert.equal(byName.tokens.limit, 30_000);
    assert.ok(byName.tokens.remaining >= 29_000 && byName.tokens.remaining <= 30_000);
    assert.equal(byName.tokens.refill, "continuous");
  } finally {
    await server.close();
  }
});

test("a burst against the mock API stays inside its limits", async () => {
  // 10 requests, refilled over one second: 25 calls are 2.5 times the limit.
  const api = await startMockApi({ limits: { requestsPerMinute: 10 }, windowMs: 1000, latencyMs: 5 });
  try {
    const throttler = new Throttler({ maxConcurrent: 8 });
    const body = JSON.stringify({ model: "m", max_tokens: 10, messages: [{ role: "user", content: "hi" }] });
    const statuses = await Promise.all(
      Array.from({ length: 25 }, () => throttler.fetch(`${api.url}/v1/messages`, { method: "POST", body }).then((r) => r.status)),
    );
    assert.deepEqual(new Set(statuses), new Set([200]));
    assert.equal(api.stats().refused, 0, "no call ran into a 429");
    assert.ok(throttler.snapshot().counters.dispatched === 25);
    assert.ok(api.stats().admitted === 25);
  } finally {
    await api.close();
  }
});

test("an answer's headers counted at admission or at the answer never put the budget above the server's own level", async () => {
  // Per-minute limits and answers of 2 s: headers counted at admission are
  // 2 s old when they arrive, those counted at the answer as new as they
  // can be. Either way the budget is at most what the server has left.
  const limits = { requestsPerMinute: 50, inputTokensPerMinute: 30_000, outputTokensPerMinute: 8_000 };
  const body = JSON.stringify({ model: "m", max_tokens: 100, messages: [{ role: "user", content: "word ".repeat(4_000) }] });
  await Promise.all(["admission", "answer"].map(async (headersAt) => {
    const api = await startMockApi({ headersAt, limits, latencyMs: 2_000, roundTokens: false });
    try {
      const throttler = new Throttler();
      for (let i = 0; i < 2; i++) {
        const response = await throttler.fetch(`${api.url}/v1/messages`, { method: "POST", body });
        assert.equal(response.status, 200);
        const ours = throttler.snapshot().partitions[0].dimensions.find((d) => d.name === "input_tokens").remaining;
        const server = api.levels("m").input_tokens.level;
        assert.ok(ours <= server, `${headersAt}, call ${i + 1}: ${ours} left by our count, ${server} by the server's`);
      }
    } finally {
      await api.close();
    }
  }));
});

test("the global fetch is looked up at call time, not at load time", async () => {
  const throttler = new Throttler();
  const original = globalThis.fetch;
  const seen = [];
  globalThis.fetch = async (input) => {
    seen.push(String(input));
    return new Response("stub");
  };
  try {
    const response = await throttler.fetch("http://127.0.0.1:1/replaced");
    assert.equal(await response.text(), "stub");
    assert.deepEqual(seen, ["http://127.0.0.1:1/replaced"]);
  } finally {
    globalThis.fetch = original;
  }
});

test("a call that costs more than a known limit is refused with a HeadroomError", async () => {
  const throttler = new Throttler({ limits: "anthropic-free", fetch: () => assert.fail("must not be sent") });
  const body = JSON.stringify({ model: "m", max_tokens: 30_000, messages: [] });
  const error = await throttler.fetch("http://127.0.0.1:1/v1/messages", { method: "POST", body }).then(
    () => assert.fail("expected a rejection"),
    (e) => e,
  );
  assert.ok(error instanceof HeadroomError);
  assert.ok(error instanceof Error);
  assert.equal(error.name, "HeadroomError");
  assert.equal(error.code, "COST_EXCEEDS_LIMIT");
  assert.equal(error.dimension, "tokens");
  assert.equal(error.cost, 30_000);
  assert.equal(error.limit, 25_000);
  assert.match(error.message, /30000 tokens.*25000/);
});

test("network errors reject like fetch and free the slot", async () => {
  const throttler = new Throttler({ maxConcurrent: 1 });
  // Nothing listens on port 1.
  await assert.rejects(throttler.fetch("http://127.0.0.1:1/"), TypeError);
  await assert.rejects(throttler.fetch("http://127.0.0.1:1/"), TypeError);
  assert.equal(throttler.snapshot().inFlight, 0);
});

test("wrong options throw a TypeError naming the option, the value and what is allowed", () => {
  const cases = [
    [{ maxConcurent: 3 }, /unknown option `maxConcurent`; expected one of maxConcurrent/],
    [{ maxConcurrent: 0 }, /expected `maxConcurrent` to be a whole number from 1 and up, or Infinity, got `0` \(number\)/],
    [{ maxConcurrent: 2.5 }, /`maxConcurrent`.*got `2.5`/],
    [{ maxConcurrent: "4" }, /`maxConcurrent`.*got a string/],
    [{ maxConcurrent: NaN }, /`maxConcurrent`.*got `NaN`/],
    [{ fetch: "fetch" }, /expected `fetch` to be a function, got a string/],
    [{ limits: "gold" }, /unknown `limits` preset "gold"; expected one of "anthropic-free"/],
    [{ limits: { requestsPerMinute: -1 } }, /`limits.requestsPerMinute` to be a finite number above 0, got `-1`/],
    [{ limits: { rpm: 5 } }, /unknown key in `limits` `rpm`/],
    [{ partitionBy: "model" }, /`partitionBy` to be one of "origin-and-model", "origin", "none"/],
    [5, /expected the options to be an object, got `5`/],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => new Throttler(options), (e) => e instanceof TypeError && message.test(e.message), JSON.stringify(options));
  }
  assert.doesNotThrow(() => new Throttler({ maxConcurrent: Infinity, limits: { tokensPerMinute: 1000 }, partitionBy: "none" }));
});
