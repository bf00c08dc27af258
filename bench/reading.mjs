// Reading a request: the time `throttler.fetch` takes for a call whose body
// holds one large image (a 20 MB body: a real PNG header, then 15 MB of
// data, as base64) beside the same call with its text alone, side by side
// in one run, with a `fetch` that answers at once. For scale, the time to
// copy the same 20 MB body once into memory as UTF-8 (what handing the
// whole body to the wasm core would cost at the least).
//   node bench/reading.mjs    prints one JSON line; runReading() runs it.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const RUNS = 21;

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function measure() {
  const { Throttler } = await import("headroom");
  const header = readFileSync(new URL("../tests/fixtures/png-3000x2000.png", import.meta.url));
  const image = Buffer.concat([header, randomBytes(15_000_000 - header.length)]).toString("base64");
  const system = "You are a careful assistant. Answer in one short paragraph. ".repeat(10);
  const question = { type: "text", text: "What is in this photo, and what would you change about its light?" };
  const body = (content) => JSON.stringify({ model: "claude-sonnet-4-6", max_tokens: 512, system, messages: [{ role: "user", content }] });
  const bodies = {
    text: body([question]),
    image: body([{ type: "image", source: { type: "base64", media_type: "image/png", data: image } }, question]),
  };
  const throttler = new Throttler({ fetch: async () => new Response("{}") });
  const url = "https://api.anthropic.com/v1/messages";
  const times = { text: [], image: [], copy: [] };
  const buffer = new Uint8Array(bodies.image.length * 3);
  const encoder = new TextEncoder();
  for (let run = -3; run < RUNS; run++) {
    for (const kind of ["text", "image"]) {
      const started = performance.now();
      await throttler.fetch(url, { method: "POST", body: bodies[kind] });
      if (run >= 0) times[kind].push(performance.now() - started);
    }
    const started = performance.now();
    encoder.encodeInto(bodies.image, buffer);
    if (run >= 0) times.copy.push(performance.now() - started);
  }
  return {
    runs: RUNS,
    textBytes: bodies.text.length,
    imageBytes: bodies.image.length,
    textMs: median(times.text),
    imageMs: median(times.image),
    copyMs: median(times.copy),
  };
}

export function runReading() {
  const out = spawnSync(process.execPath, [fileURLToPath(import.meta.url)], { encoding: "utf8", timeout: 300_000 });
  if (out.status !== 0) throw new Error(`reading bench failed: ${out.stderr}`);
  const result = JSON.parse(out.stdout.trim().split("\n").pop());
  console.log(`  text alone ${result.textMs.toFixed(3)} ms, 20 MB with an image ${result.imageMs.toFixed(3)} ms, a copy of it ${result.copyMs.toFixed(1)} ms`);
  return result;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(JSON.stringify(await measure()));
}
