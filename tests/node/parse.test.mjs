import { test } from "node:test";
import assert from "node:assert/strict";
import { parseRateLimitHeaders } from "headroom";

const NOW = Date.parse("2026-05-18T22:00:00Z");
const seed = {
  "x-ratelimit-limit-requests": "1000",
  "x-ratelimit-remaining-requests": "247",
  "x-ratelimit-limit-tokens": "80000",
  "x-ratelimit-remaining-tokens": "12450",
  "x-ratelimit-reset-requests": "2026-05-18T22:01:00Z",
  "x-ratelimit-reset-tokens": "2026-05-18T22:00:45Z",
  "retry-after": "23",
};

test("a Headers, a plain object and an array of pairs read the same", () => {
  const fromObject = parseRateLimitHeaders(seed, NOW);
  const fromHeaders = parseRateLimitHeaders(new Headers(seed), NOW);
  const fromPairs = parseRateLimitHeaders(Object.entries(seed), NOW);
  assert.deepEqual(fromHeaders, fromObject);
  assert.deepEqual(fromPairs, fromObject);
  assert.equal(fromObject.retryAfterMs, 23_000);
  assert.deepEqual(fromObject.dimensions.find((d) => d.name === "requests"), {
    name: "requests", limit: 1000, remaining: 247, resetAtMs: NOW + 60_000, refill: "continuous", source: "openai",
  });
});

test("anything else is a TypeError that names the argument", () => {
  for (const bad of [42, "x-ratelimit-limit: 5", [["only-name"]], null]) {
    assert.throws(() => parseRateLimitHeaders(bad, NOW), (e) => e instanceof TypeError && /`headers`/.test(e.message));
  }
});

test("nowMs defaults to the current time", () => {
  const before = Date.now();
  const { dimensions } = parseRateLimitHeaders({ "x-ratelimit-remaining-tokens": "1", "x-ratelimit-reset-tokens": "10s" });
  assert.ok(dimensions[0].resetAtMs >= before + 10_000 && dimensions[0].resetAtMs <= Date.now() + 10_000);
});
