// headroom in Deno, imported by its package name from the packed tarball and
// run with network access to loopback alone (no --allow-read).
import { HeadroomError, parseRateLimitHeaders, Throttler } from "headroom";

function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new Error(message);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A loopback server; `answer` gets the request's index and returns a Response. */
function serve(answer: (index: number) => Response | Promise<Response>) {
  const arrivals: number[] = [];
  let inFlight = 0;
  let peak = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async () => {
    arrivals.push(Date.now());
    inFlight++;
    peak = Math.max(peak, inFlight);
    try {
      return await answer(arrivals.length - 1);
    } finally {
      inFlight--;
    }
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, arrivals, peak: () => peak, close: () => server.shutdown() };
}

Deno.test("calls in flight never exceed maxConcurrent", async () => {
  const server = serve(async () => {
    await sleep(10);
    return new Response("ok", { headers: { "x-ratelimit-limit-requests": "1000", "x-ratelimit-remaining-requests": "999", "x-ratelimit-reset-requests": "60ms" } });
  });
  try {
    const throttler = new Throttler({ maxConcurrent: 3 });
    const bodies = await Promise.all(Array.from({ length: 15 }, () => throttler.fetch(server.url).then((r) => r.text())));
    assert(bodies.every((b) => b === "ok"));
    assert(server.peak() === 3, `peak in flight was ${server.peak()}`);
    assert(throttler.snapshot().counters.dispatched === 15);
  } finally {
    await server.close();
  }
});

Deno.test("a call waits while the remaining budget is 0 and goes at the reset", async () => {
  let resetAt = 0;
  const server = serve((index) => {
    resetAt = Date.now() + 300;
    const headers = {
      "anthropic-ratelimit-requests-limit": "1",
      "anthropic-ratelimit-requests-remaining": "0",
      "anthropic-ratelimit-requests-reset": new Date(resetAt).toISOString(),
    };
    return new Response(String(index), { headers });
  });
  try {
    const { fetch } = new Throttler();
    await (await fetch(server.url)).text();
    const firstReset = resetAt;
    await (await fetch(server.url)).text();
    assert(server.arrivals.length === 2);
    assert(server.arrivals[1] >= firstReset, `sent ${firstReset - server.arrivals[1]} ms before the reset`);
  } finally {
    await server.close();
  }
});

Deno.test("parseRateLimitHeaders reads a Headers", () => {
  const now = Date.parse("2026-05-18T22:00:00Z");
  const observation = parseRateLimitHeaders(new Headers({ "retry-after-ms": "1500", "x-should-retry": "true" }), now);
  assert(observation.retryAfterMs === 1500);
  assert(observation.shouldRetry === true);
});

Deno.test("a refusal is a HeadroomError with its numbers", async () => {
  const throttler = new Throttler({ limits: { tokensPerMinute: 100 }, fetch: () => Promise.reject(new Error("not sent")) });
  const error = await throttler
    .fetch("http://127.0.0.1:1/", { method: "POST", body: JSON.stringify({ max_tokens: 500 }) })
    .catch((e: unknown) => e);
  assert(error instanceof HeadroomError, `got ${error}`);
  assert(error.code === "COST_EXCEEDS_LIMIT" && error.cost === 500 && error.limit === 100);
});
