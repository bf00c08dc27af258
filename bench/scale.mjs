// Scale: N calls offered to one Throttler at once (ample budget, a fetch
// that answers at once, 32 in flight), in a fresh process per N: time per
// call, and the peak of the JS heap plus the wasm memory.
//   node --expose-gc bench/scale.mjs child N   (one JSON line)
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { importHeadroom } from "./instance.mjs";

export const SIZES = [1_000, 100_000];

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
  return { rows };
}

if (import.meta.url === `file://${process.argv[1]}` && process.argv[2] === "child") await child(Number(process.argv[3]));
