// Many partitions: N distinct keys, each used once by `run`, 1,000 calls at
// a time (ample budget, work that ends at once), against the same N calls
// on one key, in a fresh process each. Time per call, and the memory (JS
// heap plus wasm) left after them, the partitions kept, against before.
//   node --expose-gc bench/keys.mjs child N distinct|one   (one JSON line)
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { importHeadroom } from "./instance.mjs";

export const KEYS = [1_000, 10_000, 100_000];
const AT_A_TIME = 1_000;

async function child(n, distinct) {
  const { Throttler, wasmBytes } = await importHeadroom();
  const memory = () => {
    globalThis.gc?.();
    return { heap: process.memoryUsage().heapUsed, wasm: wasmBytes() };
  };
  const throttler = new Throttler({ maxConcurrent: AT_A_TIME });
  await throttler.run(() => null, { key: "warm-up" });
  const before = memory();
  const started = performance.now();
  for (let from = 0; from < n; from += AT_A_TIME) {
    const batch = [];
    for (let i = from; i < Math.min(n, from + AT_A_TIME); i++) batch.push(throttler.run(() => null, { key: distinct ? `customer-${i}` : "one" }));
    await Promise.all(batch);
  }
  const ms = performance.now() - started;
  // Closures handed to JS are freed by finalizers, which run after a GC
  // when the event loop is free: let them run before measuring.
  for (let i = 0; i < 5; i++) {
    globalThis.gc?.();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const after = memory();
  const heap = after.heap - before.heap;
  const wasm = after.wasm - before.wasm;
  console.log(JSON.stringify({ calls: n, distinct, usPerCall: (ms / n) * 1000, memoryAfterBytes: heap + wasm, heapAfterBytes: heap, wasmAfterBytes: wasm, partitions: throttler.snapshot().partitions.length }));
}

export function runKeys({ log = console.log } = {}) {
  const script = fileURLToPath(import.meta.url);
  const measure = (n, kind) => {
    const run = spawnSync(process.execPath, ["--expose-gc", script, "child", String(n), kind], { encoding: "utf8", timeout: 600_000 });
    if (run.status !== 0) throw new Error(`keys ${n} ${kind} failed: ${run.stderr || run.error}`);
    return JSON.parse(run.stdout.trim().split("\n").pop());
  };
  const rows = KEYS.map((n) => {
    const one = measure(n, "one");
    const distinct = measure(n, "distinct");
    const ratio = distinct.usPerCall / one.usPerCall;
    log(
      `  ${n} keys: ${distinct.usPerCall.toFixed(1)} µs per call against ${one.usPerCall.toFixed(1)} on one key (${ratio.toFixed(2)}×); ` +
        `memory after +${(distinct.memoryAfterBytes / 2 ** 20).toFixed(1)} MiB (one key +${(one.memoryAfterBytes / 2 ** 20).toFixed(1)}); ${distinct.partitions} partitions listed`,
    );
    return { keys: n, one, distinct, ratio };
  });
  return { rows };
}

if (import.meta.url === `file://${process.argv[1]}` && process.argv[2] === "child") await child(Number(process.argv[3]), process.argv[4] === "distinct");
else if (import.meta.url === `file://${process.argv[1]}`) runKeys();
