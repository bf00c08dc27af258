// The demo: a burst of calls of mixed size, offered all at once, through
// headroom against the built-in mock API, with a progress bar and a summary.
// Then, in a terminal, it serves the live dashboard (www/) until Ctrl-C.
//   node demo/burst.mjs [--calls 150] [--no-serve]
import { Throttler } from "headroom";
import { countInputTokens, startMockApi, theoreticalMinimumMs } from "../mock/api.mjs";
import { serveUntilInterrupted } from "./server.mjs";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const calls = arg("calls", 150);
// Scripted runs (no terminal, CI, --no-serve) end after the summary.
const serve = process.stdout.isTTY && process.env.CI !== "true" && !process.argv.includes("--no-serve");
// A small tier, refilled over 10 s instead of a minute so the demo is short.
const mock = { limits: { requestsPerMinute: 40, inputTokensPerMinute: 20_000, outputTokensPerMinute: 8_000 }, windowMs: 10_000, latencyMs: 150, roundTokens: process.env.ROUND !== "0" };

// Deterministic mixed sizes: prompts of 40 to 1,600 characters, max_tokens 50 to 400.
let seed = 7;
const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
const bodies = Array.from({ length: calls }, (_, i) => ({
  model: "claude-demo",
  max_tokens: 50 + Math.floor(random() * 350),
  messages: [{ role: "user", content: `Summarise item ${i}. ` + "lorem ipsum ".repeat(3 + Math.floor(random() * 130)) }],
}));
const minimumMs = theoreticalMinimumMs(bodies.map((b) => ({ input_tokens: countInputTokens(b), output_tokens: b.max_tokens })), mock);

const api = await startMockApi(mock);
const throttler = new Throttler({ maxConcurrent: 8 });
console.log(`headroom demo: ${calls} calls offered at once to a mock API on ${api.url}`);
console.log(`limits: ${mock.limits.requestsPerMinute} requests, ${mock.limits.inputTokensPerMinute} input and ${mock.limits.outputTokensPerMinute} output tokens per ${mock.windowMs / 1000} s\n`);

let done = 0;
let rateLimited = 0;
const started = Date.now();
const tty = process.stdout.isTTY;
const draw = (final = false) => {
  const width = 30;
  const filled = Math.round((done / calls) * width);
  const s = throttler.snapshot();
  const line = `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${calls} done  ${s.inFlight} in flight  ${s.queued} queued  429s: ${rateLimited}  ${((Date.now() - started) / 1000).toFixed(1)} s`;
  if (tty) process.stdout.write(`\r${line}${final ? "\n" : ""}`);
  else if (final || done % Math.max(1, Math.floor(calls / 10)) === 0) console.log(line);
};
const timer = setInterval(draw, 200);

const statuses = await Promise.all(
  bodies.map((body) =>
    throttler.fetch(`${api.url}/v1/messages`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
      .then(async (response) => {
        await response.arrayBuffer();
        if (response.status === 429) rateLimited++;
        done++;
        if (!tty) draw();
        return response.status;
      }),
  ),
);
clearInterval(timer);
draw(true);
const elapsedMs = Date.now() - started;
await api.close();

const ok = statuses.filter((s) => s === 200).length;
console.log(`\n${ok} of ${calls} calls answered 200; 429s received: ${rateLimited}; the server refused ${api.stats().refused}.`);
console.log(`time: ${(elapsedMs / 1000).toFixed(2)} s; theoretical minimum for these limits: ${(minimumMs / 1000).toFixed(2)} s (${(elapsedMs / minimumMs).toFixed(3)}×).`);
process.exitCode = ok === calls ? 0 : 1;
if (serve) await serveUntilInterrupted();
