// A storm of calls through one Throttler against the chaos API
// (mock/chaos.mjs), written for any runtime: Node runs it directly, the
// workerd suite inside a Worker. Every call is drawn from a seeded generator
// by its index: fetch with a JSON string, a ReadableStream or a Request;
// run; acquire; random costs (through `estimate` and `cost`), priorities,
// models and aborts. The storm records how each call settled and every
// request the throttler's fetch sent, for the tests to check the ledger.
import { generator, mix } from "../../mock/seeded.mjs";

export const STORM_OPTIONS = { maxConcurrent: 16, maxRetries: 2, maxWaitMs: 4000, maxRetryAfterMs: 100 };
// The longest a call may take: every attempt waits at most maxWaitMs, and
// sleeps at most 1.5 s of backoff in all between them; answers are quick.
export const SETTLE_BOUND_MS = STORM_OPTIONS.maxWaitMs * (STORM_OPTIONS.maxRetries + 1) + 1500 + 3000;
// How soon after its abort an aborted call must settle.
export const ABORT_BOUND_MS = 1000;

const now = () => Date.now();

export function makeStorm({ Throttler, HeadroomError, url, seed }) {
  const calls = new Map(); // init → the call it belongs to
  const sent = []; // every request the throttler's fetch (or run/acquire's work) sent
  const violations = [];
  const settled = [];

  /** The caller's own fetch: tags each request with its call and attempt. */
  const send = (input, init) => {
    const call = calls.get(init);
    if (!call) {
      violations.push("the throttler called fetch with an init it was not given");
      return fetch(input, init);
    }
    const attempt = call.attempts++;
    if (init.signal?.aborted) violations.push(`call ${call.index} was sent after its abort`);
    if (call.stream && attempt > 0) violations.push(`call ${call.index} sent its ReadableStream body twice`);
    const headers = new Headers(input instanceof Request ? input.headers : init.headers);
    headers.set("x-chaos-id", `${seed}.${call.index}.${attempt}`);
    if (call.abortable) headers.set("x-chaos-abortable", "1");
    if (call.calm) headers.set("x-chaos-calm", "1");
    const record = { id: headers.get("x-chaos-id"), call: call.index, at: now(), failed: false };
    sent.push(record);
    if (call.firstSentAt === undefined) call.firstSentAt = record.at;
    const promise = fetch(input, { ...init, headers });
    promise.catch(() => { record.failed = true; });
    return promise;
  };

  const throttler = new Throttler({
    ...STORM_OPTIONS,
    fetch: send,
    estimate: (input, init) => calls.get(init)?.cost ?? {},
  });

  /** One call, drawn from the generator by its index; resolves when it has settled. */
  async function one(index, extra = {}) {
    const random = generator(mix(seed, `call ${index}`));
    const drawn = `m${Math.floor(random() * 12)}`;
    // The storm may leave its own partitions paused or spent, as a server said.
    const model = extra.calm ? "fresh" : drawn;
    const amounts = [0, 0.5, 3, 40, 1000, 20_000];
    const cost = { inputTokens: amounts[Math.floor(random() * amounts.length)], outputTokens: amounts[Math.floor(random() * 4)] };
    const roll = random();
    const mode = extra.mode ?? (roll < 0.55 ? "json" : roll < 0.62 ? "stream" : roll < 0.7 ? "request" : roll < 0.88 ? "run" : "acquire");
    const abortRoll = extra.calm ? 1 : random();
    const controller = abortRoll < 0.27 ? new AbortController() : undefined;
    const call = { index, attempts: 0, cost, stream: mode === "stream", abortable: !!controller, calm: !!extra.calm, firstSentAt: undefined };
    const body = JSON.stringify({ model, max_tokens: cost.outputTokens, messages: [{ role: "user", content: "x".repeat(Math.floor(random() * 200)) }] });
    const init = { method: "POST", headers: { "content-type": "application/json" }, signal: controller?.signal };
    calls.set(init, call);
    const priority = Math.floor(random() * 5) - 2;
    let abortedAt;
    if (abortRoll < 0.02) {
      controller.abort(new Error(`abort of call ${index}`));
      abortedAt = now();
    }
    const timer = controller && abortRoll >= 0.02
      ? setTimeout(() => { abortedAt = now(); controller.abort(new Error(`abort of call ${index}`)); }, Math.floor(random() * 400))
      : undefined;
    const workInit = { ...init, body };
    calls.set(workInit, call);
    const work = async (report) => {
      const response = await send(`${url}/v1/messages`, workInit);
      report?.(response.headers, response.status);
      return response;
    };
    const started = now();
    let outcome;
    try {
      let response;
      if (mode === "json") response = await throttler.fetch(`${url}/v1/messages`, Object.assign(init, { body }));
      else if (mode === "stream") {
        const stream = new ReadableStream({ start: (c) => { c.enqueue(new TextEncoder().encode(body)); c.close(); } });
        response = await throttler.fetch(`${url}/v1/messages`, Object.assign(init, { body: stream, duplex: "half" }));
      } else if (mode === "request") {
        const request = new Request(`${url}/v1/messages`, { method: "POST", headers: init.headers, body });
        response = await throttler.fetch(request, init);
      } else if (mode === "run") {
        response = await throttler.run(work, { cost, key: model, priority, signal: controller?.signal });
      } else {
        const permit = await throttler.acquire({ cost, key: model, priority, signal: controller?.signal });
        try {
          response = await work();
          permit.release(response.headers, response.status);
        } catch (error) {
          permit.release();
          throw error;
        }
      }
      outcome = "response";
      call.status = response.status;
      await response.arrayBuffer().catch(() => {});
    } catch (error) {
      if (error instanceof HeadroomError) outcome = `refused ${error.code}`;
      else if (controller?.signal.aborted && (error === controller.signal.reason || error?.name === "AbortError")) outcome = "aborted";
      else if (String(error?.message).startsWith("headroom")) {
        outcome = "unexpected";
        violations.push(`call ${index} (${mode}) failed inside headroom: ${error}`);
      } else outcome = "network error";
    }
    const at = now();
    clearTimeout(timer);
    if (call.attempts > (mode === "json" || mode === "request" ? STORM_OPTIONS.maxRetries + 1 : 1)) {
      violations.push(`call ${index} (${mode}) was sent ${call.attempts} times`);
    }
    if (outcome === "aborted" && at - abortedAt > ABORT_BOUND_MS) violations.push(`call ${index} settled ${at - abortedAt} ms after its abort`);
    if (at - started > SETTLE_BOUND_MS) violations.push(`call ${index} (${mode}) took ${at - started} ms to settle`);
    settled.push({ index, mode, outcome, ms: at - started, attempts: call.attempts });
    return { call, outcome, started };
  }

  /** Calls `from` to `to` (exclusive), at most `parallel` at once. */
  async function run(from, to, parallel = 200) {
    let next = from;
    const worker = async () => {
      while (next < to) await one(next++);
    };
    await Promise.all(Array.from({ length: Math.min(parallel, to - from) }, worker));
  }

  /** A call after the storm, to a fresh partition of a calm server. */
  async function fresh() {
    const { call, outcome, started } = await one(-1, { mode: "json", calm: true });
    return { outcome, status: call.status, queuedMs: call.firstSentAt - started };
  }

  function summary() {
    const outcomes = {};
    for (const s of settled) outcomes[s.outcome] = (outcomes[s.outcome] ?? 0) + 1;
    const slowest = Math.max(0, ...settled.map((s) => s.ms));
    return { calls: settled.length, outcomes, slowest, violations, sent, snapshot: throttler.snapshot() };
  }

  return { throttler, run, fresh, summary };
}
