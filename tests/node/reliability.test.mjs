// Leaks, bad input and secrets: schedule/abort/complete cycles return heap
// and wasm memory to their level, listeners on user signals are removed,
// bad calls fail as errors without breaking the Throttler, and nothing the
// throttler emits repeats a secret. HEADROOM_SOAK=1 runs 1,000,000 cycles.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { collectGarbage } from "../support/gc.mjs";
import { Throttler, HeadroomError } from "headroom";
import { startServer } from "../support/server.mjs";

const soak = process.env.HEADROOM_SOAK === "1";
const URL_ = "http://127.0.0.1:9/v1/messages";
const ok = async () => new Response("{}", { headers: { "x-ratelimit-limit": "1000000", "x-ratelimit-remaining": "999999", "x-ratelimit-reset": "1" } });

test(`${soak ? "2 × 1,000,000" : "2 × 50,000"} schedule/abort/complete cycles leave heap and wasm memory where warm-up left them`, { timeout: 30 * 60_000 }, async () => {
  const cycles = soak ? 1_000_000 : 50_000;
  const throttler = new Throttler({ fetch: ok, maxConcurrent: 4 });
  const hang = new Promise(() => {});
  const cycle = async (i) => {
    const controller = new AbortController();
    const waiting = throttler.fetch(URL_, { signal: controller.signal }).catch(() => {});
    const permit = await throttler.acquire({ key: `k${i % 3}`, cost: { tokens: i % 7 } });
    const ran = throttler.run(async () => i, { key: "run" });
    if (i % 2) controller.abort();
    permit.release(i % 5 ? { "x-ratelimit-limit": "100000", "x-ratelimit-remaining": String(99_000 - (i % 100)) } : undefined);
    await Promise.all([waiting, ran]);
    void hang;
  };
  const measure = async () => {
    await collectGarbage();
    // `external` includes the wasm memory and `arrayBuffers`.
    const { heapUsed, arrayBuffers, external } = process.memoryUsage();
    return { heapUsed, arrayBuffers, external };
  };
  const batch = 100;
  const runCycles = async (n) => {
    for (let i = 0; i < n; i += batch) await Promise.all(Array.from({ length: batch }, (_, j) => cycle(i + j)));
  };
  // Warm-up long enough for V8's heap to reach its plateau: the heap climbs
  // by about 1 MB over the first 30,000 to 100,000 cycles (it varies from
  // run to run) and then holds, measured over 250,000 cycles; so growth
  // after this is what a leak would show.
  await runCycles(Math.max(cycles / 10, 60_000));
  const before = await measure();
  const started = Date.now();
  await runCycles(cycles);
  const first = await measure();
  // V8's heap after a collection still moves by up to about 1 MB from one
  // measurement to the next (12 % of this heap was seen once, with no
  // growth over 200,000 more cycles). So the cycles run twice and the lower
  // of the two figures counts: a leak grows at both, noise does not.
  await runCycles(cycles);
  const second = await measure();
  const after = Object.fromEntries(Object.keys(first).map((k) => [k, Math.min(first[k], second[k])]));
  const snapshot = throttler.snapshot();
  console.log(`memory: 2 × ${cycles} cycles in ${Date.now() - started} ms; heap ${before.heapUsed} → ${first.heapUsed}, ${second.heapUsed} bytes; array buffers ${before.arrayBuffers} → ${first.arrayBuffers}, ${second.arrayBuffers}; external (with the wasm memory) ${before.external} → ${first.external}, ${second.external}; rss ${process.memoryUsage().rss}`);
  assert.equal(snapshot.queued + snapshot.inFlight, 0);
  assert.ok(after.heapUsed <= before.heapUsed * 1.1, `heap grew from ${before.heapUsed} to ${after.heapUsed}`);
  assert.ok(after.arrayBuffers <= before.arrayBuffers * 1.1, `array buffers grew from ${before.arrayBuffers} to ${after.arrayBuffers}`);
  // The wasm memory in `external` never shrinks, so the later figure
  // counts. After warm-up `external` moved by 40 bytes at most over 200,000
  // cycles; one 8-byte allocation leaked in each acquire grew it by 850 KB
  // (tried), less than 100,000 of them because the allocator first fills
  // the space warm-up left free. A leak smaller than that space over these
  // cycles cannot show here; the soak run's million cycles would. The
  // process's RSS is not asserted: it moved between 113 and 136 MB from
  // one measurement to the next with the heap and the wasm memory flat.
  const grown = second.external - before.external;
  assert.ok(grown <= 256 * 1024, `external memory (with the wasm memory) grew by ${grown} bytes, from ${before.external} to ${second.external}`);
});

test("answers watched for their usage are collected with their wrapper, read or not", async () => {
  // A prompt large enough to be watched, and answers of 20 KB each: 10,000
  // of them kept alive would hold 200 MB.
  const body = JSON.stringify({ model: "m", max_tokens: 10, messages: [{ role: "user", content: "word ".repeat(400) }] });
  const payload = "x".repeat(20_000);
  const fetch = async () => new Response(JSON.stringify({ usage: { input_tokens: 500 }, payload }), { status: 200 });
  const throttler = new Throttler({ fetch, maxConcurrent: 64 });
  const round = (n) =>
    Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const response = await throttler.fetch(URL_, { method: "POST", body });
        if (i % 2 === 0) await response.json();
      }),
    );
  const heap = async () => {
    await collectGarbage();
    return process.memoryUsage().heapUsed;
  };
  await round(2_000);
  const before = await heap();
  for (let k = 0; k < 5; k++) await round(2_000);
  const after = await heap();
  assert.notEqual(throttler.snapshot().partitions[0].inputScale, 1, "the answers read were watched");
  assert.ok(after - before < 20 * 2 ** 20, `heap grew by ${((after - before) / 2 ** 20).toFixed(1)} MiB over 10,000 answers`);
});

test("listeners on a caller's AbortSignal are removed when its call settles", async () => {
  const throttler = new Throttler({ fetch: ok, maxConcurrent: 1 });
  const controller = new AbortController();
  const live = new Set();
  const { addEventListener, removeEventListener } = controller.signal;
  controller.signal.addEventListener = function (type, listener, ...rest) {
    live.add(listener);
    return addEventListener.call(this, type, listener, ...rest);
  };
  controller.signal.removeEventListener = function (type, listener, ...rest) {
    live.delete(listener);
    return removeEventListener.call(this, type, listener, ...rest);
  };
  const permit = await throttler.acquire();
  const calls = Array.from({ length: 20 }, (_, i) =>
    i % 2 ? throttler.fetch(URL_, { signal: controller.signal }) : throttler.run(async () => i, { signal: controller.signal }),
  );
  await new Promise((r) => setTimeout(r, 10));
  assert.ok(live.size > 0, "waiting calls listen to the signal");
  permit.release();
  await Promise.all(calls);
  assert.equal(live.size, 0, `${live.size} listeners left on the signal`);
});

test("bad calls fail as errors, and the same Throttler keeps working", async () => {
  let estimate = () => ({ tokens: NaN });
  let partitionBy = () => "p";
  let fetch = ok;
  const throttler = new Throttler({ fetch: (...a) => fetch(...a), estimate: (...a) => estimate(...a), partitionBy: (...a) => partitionBy(...a), maxRetries: 1 });
  const works = async () => assert.equal((await throttler.fetch(URL_)).status, 200);
  const rejects = async (call, check) => {
    await assert.rejects(call, check);
    [estimate, partitionBy, fetch] = [() => ({}), () => "p", ok];
    await works();
  };
  await rejects(throttler.fetch(URL_), TypeError);
  for (const bad of [{ tokens: Infinity }, { requests: -1 }, { inputTokens: "5" }, null, 7, { tokens: 1e308, extra: 1 }]) {
    estimate = () => bad;
    await rejects(throttler.fetch(URL_), TypeError);
  }
  const thrown = new RangeError("estimate broke");
  estimate = () => { throw thrown; };
  await rejects(throttler.fetch(URL_), (e) => e === thrown);
  estimate = () => ({ tokens: 1e14 });
  await works();
  estimate = () => ({});
  partitionBy = () => 42;
  await rejects(throttler.fetch(URL_), /`partitionBy` to return a string, got `42`/);
  partitionBy = () => { throw new Error("partitionBy broke"); };
  await rejects(throttler.fetch(URL_), /partitionBy broke/);
  partitionBy = () => "p";
  const sync = new Error("fetch threw synchronously");
  fetch = () => { throw sync; };
  await rejects(throttler.fetch(URL_), (e) => e === sync);
  fetch = async () => ({ status: NaN, headers: { get a() { throw new Error("getter"); } } });
  await throttler.fetch(URL_).catch(() => {});
  fetch = async () => ({ status: 200, headers: new Proxy({}, { ownKeys: () => { throw new Error("ownKeys"); } }) });
  await throttler.fetch(URL_).catch(() => {});
  fetch = ok;
  await works();
  const throwingHeaders = { get "x-ratelimit-limit"() { throw new Error("header getter"); } };
  assert.throws(() => throttler.observe(throwingHeaders), /header getter|headroom/);
  assert.throws(() => throttler.observe(new Proxy({}, { ownKeys: () => { throw new Error("ownKeys"); } })));
  await works();
  const permit = await throttler.acquire();
  assert.throws(() => permit.release(throwingHeaders));
  permit.release();
  await assert.rejects(throttler.run(async (report) => report(throwingHeaders)));
  for (const options of [{ maxConcurrent: -1 }, { maxWaitMs: NaN }, { limits: { tokensPerMinute: Infinity } }, { priority: 1 }]) {
    assert.throws(() => new Throttler(options), TypeError);
  }
  for (const options of [{ priority: NaN }, { priority: 1e12 }, { cost: { tokens: NaN } }, { cost: null }, { key: 5 }, "x"]) {
    assert.throws(() => throttler.acquire(options), TypeError);
    assert.throws(() => throttler.run(async () => {}, options), TypeError);
  }
  // A listener that calls back into the throttler while an event is emitted.
  const reentrant = new Throttler({ fetch: ok });
  let nested;
  const off = reentrant.on("queued", () => {
    off();
    nested = reentrant.fetch(URL_);
    reentrant.observe({ "x-ratelimit-limit": "100", "x-ratelimit-remaining": "99" }, "other");
  });
  assert.equal((await reentrant.fetch(URL_)).status, 200);
  assert.equal((await nested).status, 200);
  await works();
  assert.equal(throttler.snapshot().inFlight + throttler.snapshot().queued, 0);
});

test("no error, event, snapshot or console line repeats a secret, and only the caller's fetch is called", async () => {
  const secret = "sk-ant-api03-CANARY-7f3e9c";
  // Another loopback server that a header points at: it must receive nothing.
  const decoy = await startServer(() => ({ body: "decoy" }));
  const server = await startServer((req, i) => ({
    status: [429, 503, 500, 302, 200][i % 5],
    headers: { "retry-after-ms": "1", location: `${decoy.url}/${secret}`, link: `<${decoy.url}/next>; rel="next"`, "x-echo": secret },
    body: JSON.stringify({ error: { message: `your key ${secret} is limited` } }),
  }));
  const printed = [];
  const methods = ["log", "info", "warn", "error", "debug", "trace"];
  const originals = Object.fromEntries(methods.map((m) => [m, console[m]]));
  const globalFetch = globalThis.fetch;
  let globalCalls = 0;
  globalThis.fetch = (...a) => { globalCalls++; return globalFetch(...a); };
  for (const m of methods) console[m] = (...args) => printed.push(args.map(String).join(" "));
  const emitted = [];
  const errors = [];
  let ownCalls = 0;
  try {
    const throttler = new Throttler({
      fetch: (input, init) => { ownCalls++; return globalFetch(input, { ...init, redirect: "manual" }); },
      onEvent: (e) => emitted.push(e),
      maxRetries: 2,
      limits: { tokensPerMinute: 50_000 },
    });
    const init = (maxTokens) => ({
      method: "POST",
      headers: { "x-api-key": secret, authorization: `Bearer ${secret}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "m", max_tokens: maxTokens, messages: [{ role: "user", content: secret }], metadata: { user_id: secret } }),
    });
    const target = `${server.url}/v1/messages?key=${secret}`;
    for (let i = 0; i < 5; i++) {
      const response = await throttler.fetch(target, init(10));
      await response.text();
    }
    errors.push(await throttler.fetch(target, init(100_000)).catch((e) => e));
    const waiting = new Throttler({ fetch: () => new Promise(() => {}), maxConcurrent: 1, maxQueue: 1, maxWaitMs: 20 });
    waiting.fetch(target, { ...init(1), signal: AbortSignal.timeout(50) }).catch(() => {});
    errors.push(...(await Promise.all([1, 2].map(() => waiting.fetch(target, init(1)).catch((e) => e)))));
    errors.push(await throttler.fetch(`http://127.0.0.1:1/?key=${secret}`, init(1)).catch((e) => e));
    errors.push(await throttler.run(() => { throw new Error("mine"); }).catch((e) => e));
    for (const e of errors) assert.ok(e instanceof Error, String(e));
    const headroomErrors = errors.filter((e) => e instanceof HeadroomError);
    assert.deepEqual(headroomErrors.map((e) => e.code).sort(), ["COST_EXCEEDS_LIMIT", "QUEUE_FULL", "QUEUE_TIMEOUT"]);
    const everything = JSON.stringify([
      emitted,
      throttler.snapshot(),
      waiting.snapshot(),
      headroomErrors.map((e) => [e.message, e.stack, { ...e }]),
      printed,
    ]);
    assert.equal(everything.includes("CANARY"), false, everything);
    assert.ok(emitted.length >= 15);
    assert.equal(globalCalls, 0, "the global fetch is never called when a fetch is given");
    assert.ok(ownCalls >= 5);
    assert.equal(decoy.log.length, 0, "no URL from a header is followed");
  } finally {
    for (const m of methods) console[m] = originals[m];
    globalThis.fetch = globalFetch;
    await server.close();
    await decoy.close();
  }
  void http;
});
