// Scale: N calls offered to one Throttler at once (ample budget, a fetch
// that answers at once, 32 in flight), in a fresh process per N: time per
// call, and the peak of the JS heap plus the wasm memory. And the memory of
// a waiting call: QUEUED calls behind one slot, for headroom's `run` and
// `fetch` and for p-queue and p-limit, side by side.
//   node --expose-gc bench/scale.mjs child N        (one JSON line)
//   node --expose-gc bench/scale.mjs queued LIBRARY  (one JSON line)
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { importHeadroom } from "./instance.mjs";
import { collectGarbage } from "../tests/support/gc.mjs";

export const SIZES = [1_000, 100_000];
export const QUEUED = 100_000;
const QUEUED_LIBRARIES = ["headroom run", "headroom fetch", "p-queue", "p-limit"];

/** Memory of QUEUED calls waiting behind one slot, after a full GC. */
async function queued(library) {
  let release;
  const gate = new Promise((resolve) => (release = resolve));
  const task = () => gate;
  const answer = new Response(null, { status: 200 });
  const init = { method: "POST", body: JSON.stringify({ model: "m", max_tokens: 64, messages: [{ role: "user", content: "Say ok." }] }) };
  let call;
  if (library.startsWith("headroom")) {
    const { Throttler } = await import("headroom");
    const throttler = new Throttler({ fetch: () => gate.then(() => answer), maxConcurrent: 1 });
    await throttler.run(async () => 1); // the wasm instance and its first allocations
    call = library === "headroom run" ? () => throttler.run(task) : () => throttler.fetch("https://api.example.test/v1/messages", init);
  } else if (library === "p-queue") {
    const { default: PQueue } = await import("p-queue");
    const queue = new PQueue({ concurrency: 1 });
    call = () => queue.add(task);
  } else {
    const { default: pLimit } = await import("p-limit");
    const limit = pLimit(1);
    call = () => limit(task);
  }
  const settle = () => collectGarbage(3, 10);
  await settle();
  const before = process.memoryUsage();
  const pending = new Array(QUEUED);
  for (let i = 0; i < QUEUED; i++) pending[i] = call();
  await settle();
  const after = process.memoryUsage();
  const heap = (m) => m.heapUsed + m.external;
  console.log(JSON.stringify({ library, calls: QUEUED, rssPerCall: (after.rss - before.rss) / QUEUED, heapPerCall: (heap(after) - heap(before)) / QUEUED }));
  release();
  await Promise.all(pending);
}

async function child(n) {
  const { Throttler, wasmBytes } = await importHeadroom();

  const answer = new Response(null, { status: 200 });
  const throttler = new Throttler({ fetch: async () => answer, maxConcurrent: 32 });
  const init = { method: "POST", body: JSON.stringify({ model: "m", max_tokens: 64, messages: [{ role: "user", content: "Say ok." }] }) };
  await throttler.fetch("https://api.example.test/v1/messages", init);
  globalThis.gc?.();
  const baseHeap = process.memoryUsage().heapUsed;
  const baseWasm = wasmBytes();

  let peakHeap = baseHeap;
  let peakWasm = baseWasm;
  const sample = () => {
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
    peakWasm = Math.max(peakWasm, wasmBytes());
  };
  const sampler = setInterval(sample, 5);
  const started = performance.now();
  const pending = new Array(n);
  for (let i = 0; i < n; i++) pending[i] = throttler.fetch("https://api.example.test/v1/messages", init);
  const enqueuedMs = performance.now() - started;
  sample(); // all of them are queued now
  const queued = throttler.snapshot().queued;
  await Promise.all(pending);
  const ms = performance.now() - started;
  clearInterval(sampler);
  sample();
  console.log(JSON.stringify({
    calls: n,
    queuedAtPeak: queued,
    msPerCall: ms / n,
    enqueueUsPerCall: (enqueuedMs / n) * 1000,
    peakHeapBytes: peakHeap - baseHeap,
    peakWasmBytes: peakWasm - baseWasm,
    wasmMemoryBytes: peakWasm,
    bytesPerCall: (peakHeap - baseHeap + peakWasm - baseWasm) / n,
  }));
}

export function runScale({ log = console.log } = {}) {
  const script = fileURLToPath(import.meta.url);
  const rows = SIZES.map((n) => {
    const run = spawnSync(process.execPath, ["--expose-gc", script, "child", String(n)], { encoding: "utf8", timeout: 180_000 });
    if (run.status !== 0) throw new Error(`scale ${n} failed: ${run.stderr || run.error}`);
    const row = JSON.parse(run.stdout.trim().split("\n").pop());
    log(`  ${n} queued: ${(row.msPerCall * 1000).toFixed(1)} µs per call, peak heap +${(row.peakHeapBytes / 2 ** 20).toFixed(1)} MiB, wasm +${(row.peakWasmBytes / 2 ** 20).toFixed(1)} MiB`);
    return row;
  });
  const queuedRows = QUEUED_LIBRARIES.map((library) => {
    const run = spawnSync(process.execPath, ["--expose-gc", script, "queued", library], { encoding: "utf8", timeout: 180_000 });
    if (run.status !== 0) throw new Error(`queued ${library} failed: ${run.stderr || run.error}`);
    const row = JSON.parse(run.stdout.trim().split("\n").pop());
    log(`  ${library}: ${Math.round(row.rssPerCall)} B RSS, ${Math.round(row.heapPerCall)} B heap + wasm per queued call`);
    return row;
  });
  return { rows, queuedCalls: QUEUED, queued: queuedRows };
}

if (import.meta.url === `file://${process.argv[1]}` && process.argv[2] === "child") await child(Number(process.argv[3]));
if (import.meta.url === `file://${process.argv[1]}` && process.argv[2] === "queued") await queued(process.argv[3]);
