// Size and start-up: the .wasm raw and gzipped; the time to import the
// package and make a first call in a fresh Node process; and the same in
// workerd (Miniflare), where the clock stands still while code runs, so it
// is timed from outside against a Worker that does the same without headroom.
// The first call in Node is set beside the same call without headroom: a
// process's first `Response` loads Node's fetch implementation, which costs
// every caller alike.
//   node bench/startup.mjs child [without]   (one Node measurement, one JSON line)
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { bundleWorker } from "../tests/support/worker-bundle.mjs";

const RUNS = 9;
// More starts in workerd than in Node: one start moves by ±10 ms on this
// machine, and 21 keep the median within a few milliseconds.
const WORKERD_RUNS = 21;
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const fakeFetch = async () => new Response("{}", { status: 200 });
const init = { method: "POST", body: JSON.stringify({ model: "m", max_tokens: 16, messages: [{ role: "user", content: "hi" }] }) };

async function child() {
  if (process.argv[3] === "without") {
    const t1 = performance.now();
    await fakeFetch("https://api.example.test/v1/messages", init);
    console.log(JSON.stringify({ firstCallMs: performance.now() - t1 }));
    return;
  }
  const t0 = performance.now();
  const { Throttler } = await import("headroom");
  const t1 = performance.now();
  const throttler = new Throttler({ fetch: fakeFetch });
  await throttler.fetch("https://api.example.test/v1/messages", init);
  const t2 = performance.now();
  console.log(JSON.stringify({ importMs: t1 - t0, firstCallMs: t2 - t1 }));
}

export function wasmSize() {
  const path = createRequire(import.meta.url).resolve("headroom/headroom_bg.wasm");
  const bytes = readFileSync(path);
  return { bytes: bytes.length, gzipped: gzipSync(bytes, { level: 9 }).length };
}

function nodeStartup() {
  const script = fileURLToPath(import.meta.url);
  const once = (...args) => {
    const run = spawnSync(process.execPath, [script, "child", ...args], { encoding: "utf8", timeout: 30_000 });
    if (run.status !== 0) throw new Error(`startup child failed: ${run.stderr || run.error}`);
    return JSON.parse(run.stdout.trim());
  };
  const runs = [];
  const without = [];
  // Alternate, so drift on the machine falls on both alike.
  for (let i = 0; i < RUNS; i++) {
    runs.push(once());
    without.push(once("without"));
  }
  return {
    runs: RUNS,
    importMs: median(runs.map((r) => r.importMs)),
    firstCallMs: median(runs.map((r) => r.firstCallMs)),
    firstCallWithoutMs: median(without.map((r) => r.firstCallMs)),
    importMsAll: runs.map((r) => r.importMs),
  };
}

// Two Workers: one imports headroom and sends its first call through a
// Throttler; the other sends the same call without it.
const WORKER_WITH = `import { Throttler } from "headroom";
export default { async fetch() {
  const throttler = new Throttler({ fetch: async () => new Response("{}") });
  const r = await throttler.fetch("https://api.example.test/v1/messages", ${JSON.stringify(init)});
  return new Response(String(r.status));
} };`;
const WORKER_WITHOUT = `export default { async fetch() {
  const r = await (async () => new Response("{}"))("https://api.example.test/v1/messages", ${JSON.stringify(init)});
  return new Response(String(r.status));
} };`;

async function bundle(source, dir) {
  writeFileSync(join(dir, "entry.js"), source);
  const nodePaths = [join(dirname(fileURLToPath(import.meta.url)), "..", "node_modules")];
  return bundleWorker(join(dir, "entry.js"), { outdir: join(dir, "out"), nodePaths });
}

async function workerdOnce(outdir) {
  const { Miniflare } = await import("miniflare");
  const started = performance.now();
  const mf = new Miniflare({
    modules: true,
    scriptPath: join(outdir, "worker.js"),
    modulesRoot: outdir,
    modulesRules: [{ type: "ESModule", include: ["**/*.js"] }, { type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: "2025-06-01",
    cf: false,
  });
  try {
    await mf.ready;
    const ready = performance.now();
    const response = await mf.dispatchFetch("http://worker/");
    if ((await response.text()) !== "200") throw new Error("the Worker's first call failed");
    const answered = performance.now();
    return { readyMs: ready - started, firstRequestMs: answered - ready, totalMs: answered - started };
  } finally {
    await mf.dispose();
  }
}

async function workerdStartup() {
  const dir = mkdtempSync(join(tmpdir(), "headroom-bench-worker-"));
  try {
    const withDir = join(dir, "with");
    const withoutDir = join(dir, "without");
    for (const d of [withDir, withoutDir]) spawnSync("mkdir", ["-p", join(d, "out")]);
    const outWith = await bundle(WORKER_WITH, withDir);
    const outWithout = await bundle(WORKER_WITHOUT, withoutDir);
    const runs = { with: [], without: [] };
    // One of each first, not counted: the first Miniflare of a process
    // pays for loading it.
    await workerdOnce(outWithout);
    await workerdOnce(outWith);
    // Alternate, so drift on the machine falls on both alike.
    for (let i = 0; i < WORKERD_RUNS; i++) {
      runs.without.push(await workerdOnce(outWithout));
      runs.with.push(await workerdOnce(outWith));
    }
    const summary = (list) => ({
      readyMs: median(list.map((r) => r.readyMs)),
      firstRequestMs: median(list.map((r) => r.firstRequestMs)),
      totalMs: median(list.map((r) => r.totalMs)),
    });
    const withHeadroom = summary(runs.with);
    const without = summary(runs.without);
    return {
      runs: WORKERD_RUNS,
      withHeadroom,
      without,
      addedMs: withHeadroom.totalMs - without.totalMs,
      addedFirstRequestMs: withHeadroom.firstRequestMs - without.firstRequestMs,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runStartup({ log = console.log } = {}) {
  const size = wasmSize();
  log(`  .wasm ${size.bytes} bytes, ${size.gzipped} gzipped`);
  const node = nodeStartup();
  log(`  Node: import ${node.importMs.toFixed(1)} ms, first call ${node.firstCallMs.toFixed(1)} ms, without headroom ${node.firstCallWithoutMs.toFixed(1)} ms (median of ${node.runs})`);
  const workerd = await workerdStartup();
  log(`  workerd: +${workerd.addedMs.toFixed(0)} ms to start and answer a first call, +${workerd.addedFirstRequestMs.toFixed(0)} ms of it in the request (median of ${workerd.runs})`);
  return { size, node, workerd };
}

if (import.meta.url === `file://${process.argv[1]}` && process.argv[2] === "child") await child();
