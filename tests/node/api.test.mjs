// The public JS API method by method: options, retries, aborts, errors,
// events, run, acquire, observe. Most tests script the answers with a fake
// `fetch`, so every retry and abort path is exercised deterministically.
// The same file runs in Node and in Deno (through its node:test support).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Throttler, HeadroomError } from "headroom";
import { startEndless429, startServer, sleep } from "../support/server.mjs";

/** A fetch that answers from a script: each entry a Response init or an Error. */
function scripted(...answers) {
  const calls = [];
  const fetch = async (input, init) => {
    calls.push({ url: String(input.url ?? input), body: init?.body, signal: init?.signal });
    const next = answers.length > 1 ? answers.shift() : answers[0];
    if (next instanceof Error) throw next;
    return new Response(next.body ?? "{}", { status: next.status ?? 200, headers: next.headers ?? {} });
  };
  return { fetch, calls };
}

const URL_ = "http://127.0.0.1:9/v1/messages";

test("the statuses the SDKs retry are retried, up to maxRetries, and the last answer is returned", async () => {
  for (const status of [408, 409, 429, 500, 502, 503, 504, 529]) {
    const { fetch, calls } = scripted({ status, headers: { "retry-after-ms": "1" } });
    const response = await new Throttler({ fetch, maxRetries: 2 }).fetch(URL_);
    assert.equal(response.status, status);
    assert.equal(calls.length, 3, `${status} is tried 1 + maxRetries times`);
  }
  const { fetch, calls } = scripted({ status: 400 });
  assert.equal((await new Throttler({ fetch }).fetch(URL_)).status, 400);
  assert.equal(calls.length, 1, "a 400 is not retried");
});

test("a retry that succeeds resolves with the successful response, and is announced", async () => {
  const { fetch, calls } = scripted({ status: 503, headers: { "retry-after-ms": "5" } }, { status: 200, body: "fine" });
  const events = [];
  const throttler = new Throttler({ fetch, onEvent: (e) => events.push(e) });
  const response = await throttler.fetch(URL_);
  assert.equal(await response.text(), "fine");
  assert.equal(calls.length, 2);
  const retry = events.find((e) => e.type === "retry");
  assert.deepEqual(retry, { type: "retry", partition: "http://127.0.0.1:9", attempt: 2, delayMs: 5, status: 503 });
  assert.deepEqual(events.filter((e) => e.type === "dispatched").map((e) => e.attempt), [1, 2]);
});

test("x-should-retry decides before the status", async () => {
  let { fetch, calls } = scripted({ status: 503, headers: { "x-should-retry": "false" } });
  assert.equal((await new Throttler({ fetch }).fetch(URL_)).status, 503);
  assert.equal(calls.length, 1);
  ({ fetch, calls } = scripted({ status: 400, headers: { "x-should-retry": "true", "retry-after-ms": "1" } }, { status: 200 }));
  assert.equal((await new Throttler({ fetch }).fetch(URL_)).status, 200);
  assert.equal(calls.length, 2);
});

test("a wait above maxRetryAfterMs is not slept: the response comes back as it is", async () => {
  const { fetch, calls } = scripted({ status: 429, headers: { "retry-after": "120" } });
  const started = Date.now();
  const response = await new Throttler({ fetch, maxRetryAfterMs: 60_000 }).fetch(URL_);
  assert.equal(response.status, 429);
  assert.equal(calls.length, 1);
  assert.ok(Date.now() - started < 5_000);
});

test("a 429 whose body says a quota is spent is returned at once", async () => {
  const body = JSON.stringify({ error: { message: "You exceeded your current quota", type: "insufficient_quota" } });
  const { fetch, calls } = scripted({ status: 429, body });
  const response = await new Throttler({ fetch }).fetch(URL_);
  assert.equal(response.status, 429);
  assert.equal(await response.text(), body, "the caller still reads the body");
  assert.equal(calls.length, 1);
});

test("network errors are retried with backoff, then rejected with the fetch error", async () => {
  const { fetch, calls } = scripted(new TypeError("fetch failed"));
  await assert.rejects(new Throttler({ fetch, maxRetries: 1 }).fetch(URL_), { name: "TypeError", message: "fetch failed" });
  assert.equal(calls.length, 2);
});

test("replayable bodies are sent again on a retry; a stream is sent once", async () => {
  const bodies = [
    "text",
    new TextEncoder().encode("bytes"),
    new TextEncoder().encode("buffer").buffer,
    new Blob(["blob"]),
    new URLSearchParams({ a: "1" }),
    (() => { const f = new FormData(); f.set("a", "1"); return f; })(),
  ];
  for (const body of bodies) {
    const { fetch, calls } = scripted({ status: 500, headers: { "retry-after-ms": "1" } }, { status: 200 });
    await new Throttler({ fetch }).fetch(URL_, { method: "POST", body });
    assert.equal(calls.length, 2, `${body.constructor.name} is replayed`);
    assert.equal(calls[1].body, body);
  }
  const stream = new ReadableStream({ start: (c) => { c.enqueue(new TextEncoder().encode("s")); c.close(); } });
  const { fetch, calls } = scripted({ status: 500, headers: { "retry-after-ms": "1" } });
  const response = await new Throttler({ fetch }).fetch(URL_, { method: "POST", body: stream, duplex: "half" });
  assert.equal(response.status, 500);
  assert.equal(calls.length, 1, "a ReadableStream body is not retried");
  // Node's fetch also takes an async iterable, read once like a stream.
  async function* chunks() { yield new TextEncoder().encode("a"); }
  const iterable = scripted({ status: 500, headers: { "retry-after-ms": "1" } });
  await new Throttler({ fetch: iterable.fetch }).fetch(URL_, { method: "POST", body: chunks(), duplex: "half" });
  assert.equal(iterable.calls.length, 1, "an async iterable body is not retried");
});

test("a Request input is retried with a fresh copy of its body", async () => {
  const server = await startServer((_, i) => (i === 0 ? { status: 503, headers: { "retry-after-ms": "1" } } : { body: "ok" }));
  try {
    const request = new Request(`${server.url}/v1/messages`, { method: "POST", body: JSON.stringify({ model: "m", max_tokens: 5 }) });
    const response = await new Throttler().fetch(request);
    assert.equal(await response.text(), "ok");
    assert.deepEqual(server.log.map((e) => e.body), [request.bodyUsed ? server.log[0].body : "", server.log[0].body].map(() => JSON.stringify({ model: "m", max_tokens: 5 })));
  } finally {
    await server.close();
  }
});

test("retries go back through the budget: a 429 pauses the partition for every waiter", async () => {
  let answered = 0;
  const fetch = async () => {
    answered++;
    return answered === 1
      ? new Response("", { status: 429, headers: { "retry-after-ms": "200" } })
      : new Response("", { status: 200 });
  };
  const events = [];
  const throttler = new Throttler({ fetch, onEvent: (e) => events.push(e.type) });
  const first = throttler.fetch(URL_);
  await sleep(20);
  const others = [throttler.fetch(URL_), throttler.fetch(URL_)];
  await sleep(50);
  assert.equal(answered, 1, "nothing else is sent during the pause");
  assert.equal(throttler.snapshot().partitions[0].pausedUntilMs > Date.now(), true);
  assert.deepEqual((await Promise.all([first, ...others])).map((r) => r.status), [200, 200, 200]);
  assert.equal(throttler.snapshot().counters.rateLimited, 1);
  assert.ok(events.includes("pause") && events.includes("resume"), events.join());
});

test("a pause's end is announced when it ends, with no call waiting, and its timer keeps no process alive", async () => {
  const { fetch } = scripted({ status: 429, headers: { "retry-after-ms": "300", "x-should-retry": "false" } });
  const events = [];
  const throttler = new Throttler({ fetch, onEvent: (e) => events.push({ ...e, at: Date.now() }) });
  assert.equal((await throttler.fetch(URL_)).status, 429);
  const pause = events.find((e) => e.type === "pause");
  assert.ok(pause, events.map((e) => e.type).join());
  await sleep(500);
  const resume = events.find((e) => e.type === "resume");
  assert.ok(resume, "resume came without another call");
  assert.ok(resume.at >= pause.untilMs && resume.at < pause.untilMs + 150, `resumed at ${resume.at - pause.untilMs} ms from the pause's end`);
  // A week-long pause must not hold a process that has nothing else to do
  // (in Node, where a pending timer would).
  if (globalThis.Deno) return;
  const script = `
    import { Throttler } from "headroom";
    const fetch = async () => new Response("", { status: 429, headers: { "retry-after": "604800" } });
    const response = await new Throttler({ fetch }).fetch("http://127.0.0.1:9/");
    console.log(response.status);`;
  const { execFile } = await import("node:child_process");
  const started = Date.now();
  const output = await new Promise((resolve, reject) =>
    execFile(process.execPath, ["--input-type=module", "-e", script], { timeout: 10_000 }, (error, stdout) => (error ? reject(error) : resolve(stdout))),
  );
  assert.equal(output.trim(), "429");
  assert.ok(Date.now() - started < 5_000, "the process exited on its own");
});

test("the usage of answers the caller reads calibrates the next estimates of their partition", async () => {
  const body = JSON.stringify({ model: "m", max_tokens: 10, messages: [{ role: "user", content: "word ".repeat(800) }] });
  let used = 0;
  const fetch = async () => new Response(JSON.stringify({ content: [], usage: { input_tokens: used, cache_read_input_tokens: 0, output_tokens: 3 } }), { status: 200 });
  const throttler = new Throttler({ fetch });
  const scale = () => throttler.snapshot().partitions[0].inputScale;
  // An answer nobody reads teaches nothing.
  used = 100_000;
  await throttler.fetch(URL_, { method: "POST", body });
  assert.equal(scale(), 1);
  // Answers read with json(): the scale follows what they say, and a
  // prompt half as large again moves it half as far again.
  const readAll = async (tokens) => {
    used = tokens;
    for (let i = 0; i < 30; i++) {
      const parsed = await (await throttler.fetch(URL_, { method: "POST", body })).json();
      assert.equal(parsed.usage.output_tokens, 3, "the caller still gets the parsed answer");
    }
    return scale();
  };
  const first = await readAll(1_000);
  const second = await readAll(1_500);
  assert.notEqual(first, 1, "the scale moved");
  assert.ok(Math.abs(second / first - 1.5) < 0.02, `${first} then ${second}`);
  // A failed answer's body is not read for usage.
  const before = scale();
  const failing = new Throttler({ fetch: async () => new Response(JSON.stringify({ usage: { input_tokens: 1 } }), { status: 400 }) });
  await (await failing.fetch(URL_, { method: "POST", body })).json();
  assert.equal(failing.snapshot().partitions[0].inputScale, 1);
  assert.equal(scale(), before);
});

test("aborting a waiting call removes it at once and rejects with the signal's reason", async () => {
  const never = () => new Promise(() => {});
  const throttler = new Throttler({ fetch: never, maxConcurrent: 1 });
  throttler.fetch(URL_).catch(() => {}); // occupies the only slot
  const controller = new AbortController();
  const waiting = throttler.fetch(URL_, { signal: controller.signal });
  await sleep(10);
  assert.equal(throttler.snapshot().queued, 1);
  const reason = new Error("no longer needed");
  controller.abort(reason);
  await assert.rejects(waiting, (e) => e === reason);
  assert.equal(throttler.snapshot().queued, 0);
  assert.equal(throttler.snapshot().counters.cancelled, 1);
});

test("calls waiting for a slot keep no timer each; one waiting for refill keeps the throttler's one, and every kind can be aborted", async () => {
  const timers = () => (typeof process === "object" && process.getActiveResourcesInfo ? process.getActiveResourcesInfo().filter((r) => r === "Timeout").length : 0);
  const never = () => new Promise(() => {});
  const throttler = new Throttler({ fetch: never, maxConcurrent: 1 });
  const before = timers();
  throttler.fetch(URL_).catch(() => {}); // occupies the only slot
  const controller = new AbortController();
  const waiting = [];
  for (let i = 0; i < 300; i++) {
    const signal = controller.signal;
    waiting.push(i % 3 === 0 ? throttler.run(async () => "ran", { signal }) : i % 3 === 1 ? throttler.acquire({ signal }) : throttler.fetch(URL_, { signal }));
  }
  await sleep(10);
  assert.equal(throttler.snapshot().queued, 300);
  assert.ok(timers() - before <= 1, `300 waiting calls added ${timers() - before} timers`);
  const reason = new Error("no longer needed");
  controller.abort(reason);
  const settled = await Promise.allSettled(waiting);
  assert.ok(settled.every((s) => s.status === "rejected" && s.reason === reason), "each rejects with the signal's reason");
  assert.equal(throttler.snapshot().queued, 0);
  assert.equal(throttler.snapshot().counters.cancelled, 300);

  // Waiting for the bucket to refill: the head of the queue wakes on time.
  // 1,000 tokens a second: the first call empties the bucket, each next one waits 100 ms.
  const limited = new Throttler({ limits: { tokensPerMinute: 60_000 }, maxConcurrent: 100 });
  const started = [];
  await Promise.all(Array.from({ length: 4 }, (_, i) => limited.run(async () => started.push(i), { cost: { tokens: i === 0 ? 60_000 : 100 } })));
  assert.deepEqual(started, [0, 1, 2, 3]);
});

test("an already-aborted signal rejects without queueing; an abort in flight reaches the fetch", async () => {
  const controller = new AbortController();
  controller.abort();
  const { fetch, calls } = scripted({ status: 200 });
  await assert.rejects(new Throttler({ fetch }).fetch(URL_, { signal: controller.signal }), { name: "AbortError" });
  assert.equal(calls.length, 0);

  const server = await startServer(() => new Promise(() => {}));
  try {
    const inFlight = new AbortController();
    const throttler = new Throttler({ maxRetries: 3 });
    const pending = throttler.fetch(server.url, { signal: inFlight.signal });
    await sleep(50);
    inFlight.abort();
    await assert.rejects(pending, { name: "AbortError" });
    assert.equal(server.log.length, 1, "an aborted call is not retried");
    assert.equal(throttler.snapshot().inFlight, 0);
  } finally {
    await server.close();
  }
});

test("an input that is no URL rejects with a TypeError naming it, as the global fetch does, and nothing is sent", async () => {
  const { fetch, calls } = scripted({ status: 200 });
  const throttler = new Throttler({ fetch });
  const rejected = [];
  throttler.on("rejected", (e) => rejected.push(e));
  for (const [input, named] of [[123, "`123` (number)"], [undefined, "`undefined`"], [null, "`null`"], [{}, "an object"], [Symbol("s"), "a symbol"], [true, "`true` (boolean)"]]) {
    const call = throttler.fetch(input);
    assert.ok(call instanceof Promise, "a rejected promise, not a throw");
    await assert.rejects(call, (error) => {
      assert.equal(error.name, "TypeError");
      assert.match(error.message, /^headroom: Failed to parse URL from /);
      assert.ok(error.message.includes(named), error.message);
      assert.doesNotMatch(error.message, /unwrap|Option|panicked|wasm/i);
      return true;
    });
  }
  assert.equal(calls.length, 0);
  assert.deepEqual(throttler.snapshot().partitions, [], "nothing was queued");
  // Anything that turns into an absolute URL is taken, as fetch takes it.
  const response = await throttler.fetch({ toString: () => URL_ });
  assert.equal(response.status, 200);
  assert.equal(calls[0].url, URL_);
});

test("after a 429 asking for a week, the next call settles at once with that 429 and is not sent; run and acquire reject RATE_LIMITED", async () => {
  const { fetch, calls } = scripted({ status: 429, headers: { "retry-after": "604800" } });
  const throttler = new Throttler({ fetch });
  const rejected = [];
  throttler.on("rejected", (e) => rejected.push(e.code));
  // Above maxRetryAfterMs: the answer comes back as it is.
  assert.equal((await throttler.fetch(URL_)).status, 429);
  assert.equal(calls.length, 1);
  const next = await throttler.fetch(URL_);
  assert.equal(next.status, 429);
  assert.equal(calls.length, 1, "the call was not sent");
  const seconds = Number(next.headers.get("retry-after"));
  assert.ok(seconds > 604_000 && seconds <= 604_800, `retry-after ${seconds}`);
  assert.ok(Number(next.headers.get("retry-after-ms")) > 604_000_000);
  assert.equal(next.headers.get("x-should-retry"), "false");
  const body = await next.json();
  assert.equal(body.error.type, "rate_limit_error");
  assert.match(body.error.message, /maxRetryAfterMs/);
  // The same partition through run and acquire: a HeadroomError that says so.
  const partition = new URL(URL_).origin;
  for (const call of [() => throttler.run(async () => {}, { key: partition }), () => throttler.acquire({ key: partition })]) {
    const error = await call().catch((e) => e);
    assert.ok(error instanceof HeadroomError, String(error));
    assert.equal(error.code, "RATE_LIMITED");
    assert.ok(error.retryAfterMs > 604_000_000 && error.retryAfterMs <= 604_800_000, String(error.retryAfterMs));
  }
  assert.deepEqual(rejected, ["RATE_LIMITED", "RATE_LIMITED", "RATE_LIMITED"]);
  // A longer maxRetryAfterMs waits such a pause out instead.
  const patient = new Throttler({ fetch: scripted({ status: 429, headers: { "retry-after": "604800" } }).fetch, maxRetryAfterMs: 700_000_000, maxRetries: 0 });
  await patient.fetch(URL_);
  const waiting = patient.fetch(URL_, { signal: AbortSignal.timeout(50) }).catch((e) => e.name);
  assert.equal(await waiting, "TimeoutError", "it waited until its own signal gave up");
});

test("a 429 whose body never ends still settles its call, after reading a bounded part of it", { timeout: 30_000 }, async () => {
  const server = await startEndless429();
  try {
    const url = `${server.url}/v1/messages`;
    const throttler = new Throttler({ maxRetries: 1 });
    const response = await throttler.fetch(url, { method: "POST", body: "{}" });
    assert.equal(response.status, 429, "the last answer is handed back");
    assert.equal(throttler.snapshot().counters.retried, 1, "the first 429 was retried: its body said no spend limit");
    await response.body?.cancel();
  } finally {
    await server.close();
  }
});

test("maxQueue refuses the call beyond it with QUEUE_FULL", async () => {
  // Never answers, but rejects when aborted, as fetch does.
  const hang = (input, init) => new Promise((_, reject) => init.signal.addEventListener("abort", () => reject(init.signal.reason)));
  const throttler = new Throttler({ fetch: hang, maxConcurrent: 1, maxQueue: 2 });
  const cleanup = new AbortController();
  const signal = cleanup.signal;
  // One in flight (it never finishes) and two waiting: the queue is full.
  const held = [1, 2, 3].map(() => throttler.fetch(URL_, { signal }).catch((e) => e));
  const error = await throttler.fetch(URL_, { signal }).catch((e) => e);
  assert.ok(error instanceof HeadroomError);
  assert.equal(error.code, "QUEUE_FULL");
  assert.equal(error.maxQueue, 2);
  assert.match(error.message, /2 calls are already waiting/);
  assert.deepEqual([throttler.snapshot().inFlight, throttler.snapshot().queued], [1, 2]);
  cleanup.abort();
  await Promise.all(held);
  assert.equal(throttler.snapshot().queued, 0);
});

test("before its first response a partition sends a probe of four calls, fewer when they would hold over 8,000 tokens", async () => {
  let release;
  const gate = new Promise((resolve) => (release = resolve));
  const sent = [];
  const fetch = async (input, init) => {
    sent.push(JSON.parse(init.body).model);
    await gate;
    return new Response("{}");
  };
  const throttler = new Throttler({ fetch });
  const call = (model, maxTokens) => throttler.fetch(URL_, { method: "POST", body: JSON.stringify({ model, max_tokens: maxTokens, messages: [{ role: "user", content: "hi" }] }) });
  // Small calls: four go before any answer, two wait.
  const small = Array.from({ length: 6 }, () => call("small", 100));
  // Calls of about 3,000 tokens each: a third would bring the probe over 8,000.
  const large = Array.from({ length: 4 }, () => call("large", 3_000));
  await sleep(50);
  assert.equal(sent.filter((m) => m === "small").length, 4);
  assert.equal(sent.filter((m) => m === "large").length, 2);
  assert.equal(throttler.snapshot().queued, 4);
  // The answers open each partition: every call is sent.
  release();
  const answers = await Promise.all([...small, ...large]);
  assert.ok(answers.every((r) => r.status === 200));
  assert.equal(sent.length, 10);
});

test("maxQueue 0 never waits: a call that cannot go at once is refused with QUEUE_FULL", async () => {
  let release;
  const gate = new Promise((resolve) => (release = resolve));
  const sent = [];
  const fetch = async (input) => {
    sent.push(String(input));
    await gate;
    return new Response("{}");
  };
  // Limits known up front, so no partition probes with one call first.
  const throttler = new Throttler({ fetch, maxConcurrent: 2, maxQueue: 0, limits: { requestsPerMinute: 1000 } });
  // Two slots: two calls go at once.
  const going = [throttler.fetch(`${URL_}?1`), throttler.fetch(`${URL_}?2`)];
  // The third would have to wait: refused, and never sent.
  const error = await throttler.fetch(`${URL_}?3`).catch((e) => e);
  assert.ok(error instanceof HeadroomError, String(error));
  assert.equal(error.code, "QUEUE_FULL");
  assert.equal(error.maxQueue, 0);
  assert.match(error.message, /maxQueue is 0/);
  await assert.rejects(throttler.run(async () => "never"), { code: "QUEUE_FULL" });
  assert.equal(throttler.snapshot().queued, 0);
  release();
  assert.deepEqual((await Promise.all(going)).map((r) => r.status), [200, 200]);
  // With the slots free again, a call goes.
  assert.equal((await throttler.fetch(`${URL_}?4`)).status, 200);
  assert.deepEqual(sent.map((u) => u.slice(-1)), ["1", "2", "4"]);
});

test("maxWaitMs rejects a call that waited too long with QUEUE_TIMEOUT", async () => {
  const throttler = new Throttler({ fetch: () => new Promise(() => {}), maxConcurrent: 1, maxWaitMs: 100 });
  throttler.fetch(URL_).catch(() => {});
  const started = Date.now();
  const error = await throttler.fetch(URL_).catch((e) => e);
  assert.equal(error.code, "QUEUE_TIMEOUT");
  assert.ok(error.waitedMs >= 100, `waited ${error.waitedMs}`);
  assert.ok(Date.now() - started >= 100);
  assert.equal(throttler.snapshot().queued, 0);
});

test("run waits for budget, passes report, and resolves with the function's result", async () => {
  const throttler = new Throttler({ maxConcurrent: 2 });
  let running = 0;
  let peak = 0;
  const results = await Promise.all(
    Array.from({ length: 6 }, (_, i) =>
      throttler.run(async (report) => {
        running++;
        peak = Math.max(peak, running);
        await sleep(10);
        running--;
        report({ "x-ratelimit-limit-tokens": "5000", "x-ratelimit-remaining-tokens": "4000", "x-ratelimit-reset-tokens": "1s" });
        return i * 2;
      }, { cost: { tokens: 100 }, key: "work" }),
    ),
  );
  assert.deepEqual(results, [0, 2, 4, 6, 8, 10]);
  assert.equal(peak, 2);
  const [partition] = throttler.snapshot().partitions;
  assert.equal(partition.key, "work");
  assert.equal(partition.dimensions.find((d) => d.name === "tokens").limit, 5000);
  await assert.rejects(throttler.run(async () => { throw new RangeError("boom"); }), RangeError);
  assert.equal(throttler.snapshot().inFlight, 0);

  // A report is checked at once; one made after the work settled changes nothing.
  let late;
  await throttler.run((report) => {
    assert.throws(() => report(42), TypeError);
    late = report;
    return "done";
  }, { key: "work" });
  late({ "x-ratelimit-limit-tokens": "9000", "x-ratelimit-remaining-tokens": "1", "x-ratelimit-reset-tokens": "1s" });
  const tokens = throttler.snapshot().partitions.find((p) => p.key === "work").dimensions.find((d) => d.name === "tokens");
  assert.equal(tokens.limit, 5000, "the late report was not taken");
});

test("priority decides who goes first", async () => {
  const throttler = new Throttler({ maxConcurrent: 1 });
  const order = [];
  const gate = throttler.acquire();
  const permit = await gate;
  const low = throttler.run(async () => order.push("low"), { priority: 0 });
  const high = throttler.run(async () => order.push("high"), { priority: 10 });
  permit.release();
  await Promise.all([low, high]);
  assert.deepEqual(order, ["high", "low"]);
});

test("acquire returns a permit whose release feeds headers; a second release does nothing", async () => {
  const throttler = new Throttler({ maxConcurrent: 1 });
  const permit = await throttler.acquire({ cost: { requests: 1, inputTokens: 50, outputTokens: 10 }, key: "sdk" });
  assert.equal(throttler.snapshot().inFlight, 1);
  const next = throttler.acquire({ key: "sdk" });
  permit.release(new Headers({ "anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "49" }));
  permit.release();
  const second = await next;
  assert.equal(throttler.snapshot().inFlight, 1);
  second.release(undefined, 500);
  const requests = throttler.snapshot().partitions[0].dimensions.find((d) => d.name === "requests");
  assert.equal(requests.limit, 50);
  assert.equal(throttler.snapshot().counters.completed, 2);
});

test("observe feeds headers seen elsewhere, and calls then wait for them", async () => {
  const { fetch, calls } = scripted({ status: 200 });
  const throttler = new Throttler({ fetch, partitionBy: () => "shared" });
  throttler.observe({ "x-ratelimit-limit": "10", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1" }, "shared");
  const pending = throttler.fetch(URL_);
  await sleep(100);
  assert.equal(calls.length, 0, "held until the window resets");
  await pending;
  assert.equal(calls.length, 1);
});

test("estimate and partitionBy functions replace the built-in ones", async () => {
  const { fetch } = scripted({ status: 200 });
  const seen = [];
  const throttler = new Throttler({
    fetch,
    limits: { tokensPerMinute: 1000 },
    estimate: (input, init) => { seen.push(init.body); return { tokens: 2000 }; },
    partitionBy: (input) => new URL(input).pathname,
  });
  const error = await throttler.fetch(URL_, { method: "POST", body: "x" }).catch((e) => e);
  assert.equal(error.code, "COST_EXCEEDS_LIMIT");
  assert.equal(error.cost, 2000);
  assert.deepEqual(seen, ["x"]);
  const bad = new Throttler({ fetch, estimate: () => ({ tokens: -1 }) });
  await assert.rejects(bad.fetch(URL_), /`the result of `estimate`.tokens` to be a finite number from 0 and up, got `-1`/);
});

test("on adds a listener for one event type and returns its remover", async () => {
  const { fetch } = scripted({ status: 200 });
  const throttler = new Throttler({ fetch });
  const seen = [];
  const off = throttler.on("response", (e) => seen.push(e));
  throttler.on("queued", () => { throw new Error("a throwing listener is ignored"); });
  await throttler.fetch(URL_);
  off();
  await throttler.fetch(URL_);
  assert.deepEqual(seen, [{ type: "response", partition: "http://127.0.0.1:9", status: 200, attempt: 1 }]);
  assert.throws(() => throttler.on("finished", () => {}), /unknown event type "finished"; expected one of queued, dispatched/);
});

test("no error, event or snapshot contains a request's headers, key or body", async () => {
  const secret = "sk-ant-SECRET-0123456789";
  const emitted = [];
  const answers = [
    { status: 529, headers: { "retry-after-ms": "1" }, body: secret },
    { status: 200, body: secret },
  ];
  const throttler = new Throttler({ fetch: scripted(...answers).fetch, onEvent: (e) => emitted.push(e), limits: { tokensPerMinute: 100_000 } });
  const init = { method: "POST", headers: { "x-api-key": secret, authorization: `Bearer ${secret}` }, body: JSON.stringify({ model: "m", max_tokens: 500_000, messages: [{ role: "user", content: secret }] }) };
  const refusal = await throttler.fetch(`${URL_}?key=${secret}`, init).catch((e) => e);
  await throttler.fetch(`${URL_}?key=${secret}`, { ...init, body: JSON.stringify({ model: "m", max_tokens: 5, messages: [{ role: "user", content: secret }] }) });
  const everything = JSON.stringify([emitted, throttler.snapshot(), refusal.message, { ...refusal }]);
  assert.equal(everything.includes("SECRET"), false, everything);
  assert.ok(emitted.length >= 4);
});

test("wrong coordinator options are TypeErrors that name them", () => {
  const namespace = { idFromName: () => ({}), get: () => ({}) };
  const cases = [
    [{ coordinator: {} }, /`coordinator` to be a Durable Object namespace binding .*, got an object/],
    [{ coordinator: "HEADROOM" }, /`coordinator` to be a Durable Object namespace binding .*, got a string/],
    [{ leaseSize: 4 }, /`leaseSize` applies only with `coordinator`/],
    [{ fallbackShare: 0.5 }, /`fallbackShare` applies only with `coordinator`/],
    [{ coordinator: namespace, leaseSize: 65 }, /`leaseSize` to be a whole number from 1 to 64, got `65`/],
    [{ coordinator: namespace, leaseSize: 0 }, /`leaseSize` to be a whole number from 1 and up, got `0`/],
    [{ coordinator: namespace, fallbackShare: 0 }, /`fallbackShare` to be a number above 0 and at most 1, got `0`/],
    [{ coordinator: namespace, fallbackShare: 1.5 }, /`fallbackShare` to be a number above 0 and at most 1/],
    [{ coordinator: namespace, coordinatorName: "" }, /`coordinatorName` to be a non-empty string/],
    [{ coordinator: namespace, leaseMs: -1 }, /`leaseMs` to be a finite number of milliseconds/],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => new Throttler(options), (e) => e instanceof TypeError && message.test(e.message), JSON.stringify(options));
  }
  // Every option valid: no error.
  new Throttler({ coordinator: namespace, coordinatorName: "eu", leaseSize: 64, leaseMs: 0, fallbackShare: 1, fallbackRetryMs: 100 });
});

test("wrong options for the new options and per-call options are TypeErrors that name them", () => {
  const cases = [
    [{ maxRetries: -1 }, /`maxRetries` to be a whole number from 0 and up, got `-1`/],
    [{ maxQueue: -1 }, /`maxQueue` to be a whole number from 0 and up, or Infinity, got `-1`/],
    [{ maxQueue: 1.5 }, /`maxQueue` to be a whole number from 0 and up, or Infinity, got `1.5`/],
    [{ maxWaitMs: Infinity }, /`maxWaitMs` to be a finite number of milliseconds from 0 and up, got `Infinity`/],
    [{ maxRetryAfterMs: "60s" }, /`maxRetryAfterMs`.*got a string/],
    [{ onEvent: {} }, /`onEvent` to be a function, got an object/],
    [{ estimate: 5 }, /`estimate` to be a function, got `5`/],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => new Throttler(options), (e) => e instanceof TypeError && message.test(e.message), JSON.stringify(options));
  }
  const throttler = new Throttler();
  assert.throws(() => throttler.run("not a function"), /expected `run` to be given a function, got a string/);
  assert.throws(() => throttler.acquire({ cost: { tokens: -5 } }), /`cost.tokens` to be a finite number from 0 and up, got `-5`/);
  assert.throws(() => throttler.acquire({ kee: "x" }), /unknown option of `acquire` `kee`/);
  assert.throws(() => throttler.acquire({ signal: "stop" }), /`signal` to be an AbortSignal, got a string/);
  assert.throws(() => throttler.acquire({ priority: 1.5 }), /`priority` to be a whole number/);
});

/** A stand-in for a Durable Object namespace: records every message its stubs get. */
function fakeCoordinator(acquire) {
  const messages = [];
  const stub = {
    acquire: async (...args) => {
      messages.push(["acquire", ...args]);
      return acquire(...args);
    },
    sent: async (ids) => void messages.push(["sent", ids]),
    complete: async (...args) => void messages.push(["complete", ...args]),
    release: async (ids) => void messages.push(["release", ids]),
  };
  return { namespace: { idFromName: (name) => ({ name }), get: () => stub }, messages };
}

test("with a coordinator, calls wait for its grants, use spare ones, and report only rate-limit fields", async () => {
  let next = 1;
  const { namespace, messages } = fakeCoordinator((key, cost, count) => ({ grants: Array.from({ length: count }, () => next++) }));
  const { fetch } = scripted({
    headers: { "anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "49", "set-cookie": "session=SECRET", "x-request-id": "req_SECRET" },
  });
  const throttler = new Throttler({ fetch, coordinator: namespace, leaseSize: 2 });
  for (let i = 0; i < 3; i++) assert.equal((await throttler.fetch(URL_, { method: "POST", body: "{}" })).status, 200);
  await sleep(10);
  const kinds = messages.map((m) => m[0]);
  assert.deepEqual(kinds.filter((k) => k === "acquire").length, 2, "the second call used the first lease's spare grant");
  assert.deepEqual(messages.find((m) => m[0] === "sent"), ["sent", [2]]);
  const completes = messages.filter((m) => m[0] === "complete");
  assert.deepEqual(completes.map((m) => m[1]), [1, 2, 3]);
  for (const [, , status, fields] of completes) {
    assert.equal(status, 200);
    assert.deepEqual(fields.map(([name]) => name).sort(), ["anthropic-ratelimit-requests-limit", "anthropic-ratelimit-requests-remaining"]);
  }
  assert.ok(!JSON.stringify(messages).includes("SECRET"), "no other header leaves the isolate");
});

test("with a coordinator, the guessed part of a cost goes with it, so the shared budget does not refuse it either", async () => {
  const asked = [];
  const { namespace } = fakeCoordinator((key, cost, count) => {
    asked.push(cost);
    return { grants: [asked.length] };
  });
  const { fetch } = scripted({ status: 200 });
  const throttler = new Throttler({ fetch, coordinator: namespace, leaseSize: 1 });
  const content = [{ type: "image", source: { type: "url", url: "https://example.com/cat.jpg" } }];
  const body = JSON.stringify({ model: "claude-sonnet-4-6", max_tokens: 10, messages: [{ role: "user", content }] });
  assert.equal((await throttler.fetch(URL_, { method: "POST", body })).status, 200);
  assert.equal(asked[0].guessedInputTokens, 1600, "an image by link is guessed at Anthropic's most for one image");
  assert.ok(asked[0].inputTokens >= 1600);
  // run and acquire take the same key in their cost.
  await throttler.run(async () => {}, { cost: { inputTokens: 900, guessedInputTokens: 500 } });
  assert.equal(asked[1].guessedInputTokens, 500);
  assert.throws(() => throttler.acquire({ cost: { guessedInputTokens: -1 } }), /`cost.guessedInputTokens` to be a finite number from 0 and up/);
});

test("with a coordinator that refuses, the call rejects with its HeadroomError", async () => {
  const { namespace } = fakeCoordinator(() => ({ refused: { code: "COST_EXCEEDS_LIMIT", message: "headroom: too big", dimension: "tokens", cost: 9, limit: 5 } }));
  const { fetch, calls } = scripted({});
  const throttler = new Throttler({ fetch, coordinator: namespace });
  await assert.rejects(throttler.fetch(URL_), (e) => e instanceof HeadroomError && e.code === "COST_EXCEEDS_LIMIT" && e.limit === 5);
  assert.equal(calls.length, 0);
  assert.equal(throttler.snapshot().inFlight, 0);
});

test("a coordinator that cannot be reached: one fallback event, calls go on the local budget", async () => {
  const { namespace, messages } = fakeCoordinator(() => {
    throw new Error("unreachable");
  });
  const { fetch, calls } = scripted({});
  const events = [];
  const throttler = new Throttler({ fetch, coordinator: namespace, fallbackRetryMs: 60_000, onEvent: (e) => events.push(e.type) });
  const answers = await Promise.all(Array.from({ length: 5 }, () => throttler.fetch(URL_)));
  assert.deepEqual(answers.map((r) => r.status), [200, 200, 200, 200, 200]);
  assert.equal(calls.length, 5);
  assert.deepEqual(events.filter((t) => t === "fallback"), ["fallback"]);
  const asked = messages.filter((m) => m[0] === "acquire").length;
  // Until the retry time, the coordinator is not asked again.
  await throttler.fetch(URL_);
  assert.equal(messages.filter((m) => m[0] === "acquire").length, asked);
});

test("a prompt prefix marked for caching is taken off the cost of calls after the answer that wrote it", async () => {
  // A system prompt of about 2,000 tokens marked for caching, and a short question.
  const body = (question) => JSON.stringify({
    model: "m",
    max_tokens: 10,
    system: [{ type: "text", text: "Answer from the policy. ".repeat(330), cache_control: { type: "ephemeral" } }],
    messages: [{ role: "user", content: question }],
  });
  const usage = (read, written) => ({ input_tokens: 12, cache_read_input_tokens: read, cache_creation_input_tokens: written, output_tokens: 3 });
  // Each call is answered when the test says, after it has looked at the budget.
  const run = async (options, answers) => {
    const pending = [];
    const fetch = () => new Promise((resolve) => pending.push(resolve));
    const throttler = new Throttler({ fetch, limits: { inputTokensPerMinute: 60_000 }, ...options });
    const remaining = () => throttler.snapshot().partitions[0]?.dimensions.find((d) => d.name === "input_tokens")?.remaining ?? 60_000;
    const charged = [];
    for (const [i, [read, written]] of answers.entries()) {
      const before = remaining();
      const call = throttler.fetch(URL_, { method: "POST", body: body(`Question ${i}?`) });
      while (pending.length === 0) await sleep(1);
      charged.push(before - remaining());
      pending.shift()(new Response(JSON.stringify({ content: [], usage: usage(read, written) }), { status: 200 }));
      await (await call).json();
    }
    return charged;
  };
  // The first call writes the prefix and is charged in full; the next ones read it.
  const [write, read, again] = await run({}, [[0, 2_000], [2_000, 0], [2_000, 0]]);
  assert.ok(write > 1_500, `the first call is charged its whole prompt: ${write}`);
  assert.ok(read < 100 && again < 100, `a cache read is not charged: ${read}, ${again}`);
  // Models on which cache reads count: nothing is taken off.
  const counted = await run({ cacheReadsCount: true }, [[0, 2_000], [2_000, 0]]);
  assert.ok(counted.every((c) => c > 1_500), `${counted}`);
  // A server that says it neither read nor wrote the prefix: it is charged in full from then on.
  const uncached = await run({}, [[0, 0], [0, 0], [0, 0]]);
  assert.ok(uncached.slice(1).every((c) => c > 1_500), `${uncached}`);
  assert.throws(() => new Throttler({ cacheReadsCount: "yes" }), /expected `cacheReadsCount` to be a boolean, got a string/);
});
