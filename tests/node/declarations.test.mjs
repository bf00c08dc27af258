// The package's TypeScript declarations against what it really produces:
// objects captured from a running throttler (every event type, a snapshot
// with every field present, every HeadroomError code, an Observation with
// every field) are written out as object literals typed with the package's
// own types and checked with `tsc --strict --exactOptionalPropertyTypes`.
// An object literal may hold no property its type does not declare, so a
// field the code emits and index.d.ts lacks fails this test.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { HeadroomError, Throttler, parseRateLimitHeaders } from "headroom";

const URL_ = "http://127.0.0.1:9/v1/messages";
const EVENT_TYPES = ["queued", "dispatched", "response", "retry", "pause", "resume", "rejected", "fallback", "coordinated"];
const ERROR_CODES = ["COST_EXCEEDS_LIMIT", "QUEUE_FULL", "QUEUE_TIMEOUT", "RATE_LIMITED"];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A plain copy of an error's own fields and the ones its class sets. */
function plainError(error) {
  return { ...Object.fromEntries(Object.entries(error)), name: error.name, message: error.message };
}

async function capture() {
  const events = [];
  const snapshots = [];
  // A 429 that pauses the partition for 60 ms, then answers with every
  // Anthropic dimension.
  const reset = new Date(Date.now() + 60_000).toISOString();
  const full = {
    "anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "49", "anthropic-ratelimit-requests-reset": reset,
    "anthropic-ratelimit-tokens-limit": "90000", "anthropic-ratelimit-tokens-remaining": "89000", "anthropic-ratelimit-tokens-reset": reset,
  };
  const answers = [{ status: 429, headers: { ...full, "retry-after-ms": "60" } }, { status: 200, headers: full }];
  let throttler;
  const fetch = async () => {
    const next = answers.length > 1 ? answers.shift() : answers[0];
    return new Response("{}", next);
  };
  throttler = new Throttler({
    fetch,
    maxConcurrent: 1,
    maxQueue: 1,
    onEvent: (event) => {
      events.push(event);
      // While the 429's pause holds, the snapshot has every field.
      if (event.type === "pause") snapshots.push(throttler.snapshot());
    },
  });
  const body = JSON.stringify({ model: "m", max_tokens: 10, messages: [{ role: "user", content: "hi" }] });
  await throttler.fetch(URL_, { method: "POST", body });
  // The pause ends at the next look after its time.
  await sleep(80);
  await throttler.fetch(URL_, { method: "POST", body });

  const errors = [];
  const strict = new Throttler({ limits: { tokensPerMinute: 10 }, maxConcurrent: 1, maxQueue: 1, maxWaitMs: 20, onEvent: (e) => events.push(e) });
  errors.push(await strict.run(async () => {}, { cost: { tokens: 50 } }).catch((e) => e));
  const held = strict.run(() => sleep(100));
  const waiting = strict.run(async () => {});
  errors.push(await strict.run(async () => {}).catch((e) => e));
  errors.push(await waiting.catch((e) => e));
  await held;
  // A 429 asking for an hour: the next call to its partition is refused.
  const paused = new Throttler({ onEvent: (e) => events.push(e) });
  (await paused.acquire({ key: "k" })).release({ "retry-after": "3600" }, 429);
  errors.push(await paused.run(async () => {}, { key: "k" }).catch((e) => e));

  // A coordinator that cannot be reached, then can: fallback, coordinated.
  let reachable = false;
  let grant = 0;
  const stub = {
    acquire: async () => {
      if (!reachable) throw new Error("unreachable");
      return { grants: [++grant] };
    },
    sent: async () => {},
    complete: async () => {},
    release: async () => {},
  };
  const coordinated = new Throttler({
    fetch: async () => new Response("{}"),
    coordinator: { idFromName: (name) => ({ name }), get: () => stub },
    fallbackRetryMs: 30,
    onEvent: (e) => events.push(e),
  });
  await coordinated.fetch(URL_);
  reachable = true;
  await sleep(50);
  await coordinated.fetch(URL_);

  const observation = parseRateLimitHeaders({
    "anthropic-ratelimit-tokens-limit": "90000",
    "anthropic-ratelimit-tokens-remaining": "89000",
    "anthropic-ratelimit-tokens-reset": reset,
    "ratelimit-policy": '"burst";q=100;w=60',
    "ratelimit": '"burst";r=50;t=30',
    "retry-after-ms": "1500",
    "x-should-retry": "true",
    date: new Date(Date.now() + 5_000).toUTCString(),
  });
  return { events, snapshot: snapshots[0], errors: errors.map(plainError), observation, isHeadroomError: errors.map((e) => e instanceof HeadroomError) };
}

function typeCheck(dir, declarations, captured) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, "node_modules", "headroom"), { recursive: true });
  // The declarations under test, as the package "headroom".
  writeFileSync(join(dir, "node_modules", "headroom", "index.d.ts"), declarations);
  writeFileSync(join(dir, "node_modules", "headroom", "package.json"), JSON.stringify({ name: "headroom", types: "index.d.ts" }));
  const lines = [`import type { ThrottlerEvent, Snapshot, HeadroomError, Observation } from "headroom";`];
  captured.events.forEach((event, i) => lines.push(`export const event${i}: ThrottlerEvent = ${JSON.stringify(event)};`));
  lines.push(`export const snapshot: Snapshot = ${JSON.stringify(captured.snapshot)};`);
  captured.errors.forEach((error, i) => lines.push(`export const error${i}: Omit<HeadroomError, "stack"> = ${JSON.stringify(error)};`));
  lines.push(`export const observation: Observation = ${JSON.stringify(captured.observation)};`);
  writeFileSync(join(dir, "captured.ts"), lines.join("\n") + "\n");
  const compilerOptions = { strict: true, exactOptionalPropertyTypes: true, noEmit: true, target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", lib: ["ES2022", "DOM"], types: [] };
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions, files: ["captured.ts"] }));
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  try {
    execFileSync(process.execPath, [tsc, "-p", dir], { encoding: "utf8" });
    return "";
  } catch (error) {
    return String(error.stdout) + String(error.stderr);
  }
}

test("every event, a full snapshot, every error and a full Observation match index.d.ts under exactOptionalPropertyTypes", async () => {
  const captured = await capture();
  // What was captured covers the surface.
  assert.deepEqual([...new Set(captured.events.map((e) => e.type))].sort(), [...EVENT_TYPES].sort());
  assert.deepEqual(captured.errors.map((e) => e.code).sort(), [...ERROR_CODES].sort());
  assert.ok(captured.isHeadroomError.every(Boolean));
  assert.ok(captured.snapshot.partitions.some((p) => p.pausedUntilMs !== undefined && p.dimensions.some((d) => d.resetAtMs !== undefined)), "a paused partition with resets");
  const fields = captured.observation.dimensions.flatMap((d) => Object.keys(d));
  for (const field of ["limit", "remaining", "resetAtMs", "windowMs", "remainingRounding", "refill", "source"]) assert.ok(fields.includes(field), field);
  for (const field of ["retryAfterMs", "shouldRetry", "skewMs"]) assert.ok(field in captured.observation, field);

  const declarations = readFileSync(join(dirname(fileURLToPath(import.meta.resolve("headroom"))), "index.d.ts"), "utf8");
  const dir = fileURLToPath(new URL("../../.tmp/declarations/", import.meta.url));
  assert.equal(typeCheck(dir, declarations, captured), "", "the captured values type-check");

  // The check can fail: the same values against declarations missing one
  // field each are refused, naming the field.
  for (const field of ["remainingRounding", "pausedUntilMs", "waitedMs", "maxQueue", "retryAfterMs"]) {
    const missing = declarations.replace(new RegExp(`^\\s*(readonly )?${field}\\??: .*$`, "gm"), "");
    assert.notEqual(missing, declarations, `${field} is declared`);
    assert.match(typeCheck(dir, missing, captured), new RegExp(field), `without ${field}`);
  }
});
