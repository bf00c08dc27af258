// The dashboard: restarts the demo server's mock API with the chosen limits,
// offers a burst of calls at once through one Throttler, samples
// `throttler.snapshot()` every 100 ms and redraws the charts from the samples.
// Everything it records is on `window.dashboard`, for the page's test.
import { Throttler } from "headroom";
import { drawBars, drawLines } from "./charts.js";

// The mock's limits per window, as its `limits` option takes them.
const TIERS = {
  tight: { requestsPerMinute: 10, inputTokensPerMinute: 6_000, outputTokensPerMinute: 2_000 },
  demo: { requestsPerMinute: 40, inputTokensPerMinute: 20_000, outputTokensPerMinute: 8_000 },
  roomy: { requestsPerMinute: 120, inputTokensPerMinute: 60_000, outputTokensPerMinute: 24_000 },
};
// Prompt length in repeats of "lorem ipsum " (12 characters; the mock counts
// 4 characters a token) and max_tokens, each drawn evenly from [min, max].
const SIZES = {
  small: { repeats: [2, 18], maxTokens: [20, 100] },
  mixed: { repeats: [3, 132], maxTokens: [50, 399] },
  large: { repeats: [100, 400], maxTokens: [300, 800] },
};
const LATENCY_MS = 150;
const SAMPLE_EVERY_MS = 100;
// Chromium opens at most 6 connections to one origin; more in flight would
// only wait inside the browser.
const MAX_CONCURRENT = 6;
const DIMENSIONS = ["requests", "input_tokens", "output_tokens"];

const $ = (id) => document.getElementById(id);
const form = $("controls");

/** The burst's request bodies: deterministic, so one setting always offers the same load. */
function burst(calls, size) {
  const { repeats, maxTokens } = SIZES[size];
  let seed = 7;
  const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  const between = ([min, max]) => min + Math.floor(random() * (max - min + 1));
  return Array.from({ length: calls }, (_, i) => ({
    model: "claude-demo",
    max_tokens: between(maxTokens),
    messages: [{ role: "user", content: `Summarise item ${i}. ` + "lorem ipsum ".repeat(between(repeats)) }],
  }));
}

// What the page shows and the test reads.
const dashboard = (window.dashboard = { state: "idle", run: null });
let current = null; // { throttler, abort, sampler }

function newRun({ tier, windowMs, calls, size }) {
  return {
    tier, windowMs, size, offered: calls,
    ok: 0, failed: 0, rateLimited: 0,
    startedAt: performance.now(), elapsedMs: 0, minimumMs: null,
    samples: [], // { t, queued, inFlight, requests, input_tokens, output_tokens }
    limits: {}, // dimension name → limit, as the headers report it
    answers: [], // { t, status }
    pauses: [], // { fromMs, untilMs }
    server: null, // the mock's stats() at the end
  };
}

async function start(settings) {
  stop();
  const run = (dashboard.run = newRun(settings));
  dashboard.state = "starting";
  status(`Restarting the mock API with the ${settings.tier} limits…`);
  const bodies = burst(settings.calls, settings.size);
  const mock = await postJson("/demo/mock", {
    options: { limits: TIERS[settings.tier], windowMs: settings.windowMs, latencyMs: LATENCY_MS },
    burst: bodies,
  });
  if (dashboard.run !== run) return;
  run.minimumMs = mock.minimumMs;

  const abort = new AbortController();
  const throttler = new Throttler({ maxConcurrent: MAX_CONCURRENT });
  const since = () => performance.now() - run.startedAt;
  throttler.on("response", ({ status }) => {
    run.answers.push({ t: since(), status });
    if (status === 429) run.rateLimited++;
  });
  throttler.on("pause", ({ untilMs }) => run.pauses.push({ fromMs: since(), untilMs: since() + (untilMs - Date.now()) }));
  run.startedAt = performance.now();
  $("start").textContent = "Restart";
  current = { throttler, abort, sampler: setInterval(() => sample(run, throttler), SAMPLE_EVERY_MS) };
  dashboard.state = "running";
  status(`${settings.calls} calls offered at once; headroom sends each when the budget has room.`);
  const url = new URL("/v1/messages", location.href).href;
  await Promise.all(
    bodies.map((body) =>
      throttler
        .fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal: abort.signal })
        .then(async (response) => {
          await response.arrayBuffer();
          if (response.ok) run.ok++;
          else run.failed++;
        })
        .catch(() => run.failed++),
    ),
  );
  if (dashboard.run !== run) return;
  run.elapsedMs = since();
  sample(run, throttler);
  stop();
  run.server = (await getJson("/demo/mock")).stats;
  dashboard.state = "finished";
  const ratio = run.minimumMs ? ` (${(run.elapsedMs / run.minimumMs).toFixed(3)}× the minimum)` : "";
  status(
    `Done: ${run.ok} of ${run.offered} calls answered 200 in ${(run.elapsedMs / 1000).toFixed(2)} s${ratio}; ` +
      `429s received: ${run.rateLimited}; the server refused ${run.server.refused}.`,
  );
  render();
}

function stop() {
  $("start").textContent = "Start";
  if (!current) return;
  clearInterval(current.sampler);
  current.abort.abort();
  current = null;
}

function sample(run, throttler) {
  const snapshot = throttler.snapshot();
  const point = { t: performance.now() - run.startedAt, queued: snapshot.queued, inFlight: snapshot.inFlight };
  for (const dimension of snapshot.partitions[0]?.dimensions ?? []) {
    if (!DIMENSIONS.includes(dimension.name)) continue;
    point[dimension.name] = dimension.remaining;
    run.limits[dimension.name] = dimension.limit;
  }
  run.samples.push(point);
  run.elapsedMs = point.t;
  render();
}

function render() {
  const run = dashboard.run;
  if (!run) return;
  const last = run.samples.at(-1) ?? { queued: 0, inFlight: 0 };
  $("answered").textContent = `${run.ok} / ${run.offered}`;
  $("rate-limited").textContent = run.rateLimited;
  $("in-flight").textContent = last.inFlight;
  $("queued").textContent = last.queued;
  $("elapsed").textContent = `${(run.elapsedMs / 1000).toFixed(1)} s`;
  $("minimum").textContent = run.minimumMs ? `${(run.minimumMs / 1000).toFixed(1)} s` : "–";

  // The time axis runs to the minimum and a little beyond, then grows with the run.
  const xMaxMs = Math.max(run.elapsedMs, (run.minimumMs ?? 0) * 1.1, 5_000);
  const pauses = run.pauses;
  for (const name of DIMENSIONS) {
    const limit = run.limits[name];
    const points = run.samples.filter((s) => s[name] !== undefined).map((s) => [s.t, s[name]]);
    drawLines($(`chart-${name}`), { xMaxMs, yMax: limit ?? 1, limit, pauses, series: [{ points, className: "remaining" }] });
  }
  const counts = (key) => run.samples.map((s) => [s.t, s[key]]);
  drawLines($("chart-queued"), { xMaxMs, yMax: Math.max(1, run.offered), pauses, series: [{ points: counts("queued"), className: "queued" }] });
  drawLines($("chart-in-flight"), { xMaxMs, yMax: MAX_CONCURRENT, pauses, series: [{ points: counts("inFlight"), className: "in-flight" }] });

  const perSecond = (keep) => {
    const counts = [];
    for (const { t, status } of run.answers) if (keep(status)) counts[Math.floor(t / 1000)] = (counts[Math.floor(t / 1000)] ?? 0) + 1;
    return Array.from(counts, (n) => n ?? 0);
  };
  const ok = perSecond((s) => s !== 429);
  const limited = perSecond((s) => s === 429);
  const busiest = Math.max(1, ...ok.map((n, i) => n + (limited[i] ?? 0)), ...limited);
  drawBars($("chart-answers"), { xMaxMs, yMax: busiest, pauses, stacks: [{ counts: ok, className: "ok" }, { counts: limited, className: "rate-limited" }] });
}

function status(text) {
  $("status").textContent = text;
}

async function postJson(path, value) {
  const response = await fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(value) });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

async function getJson(path) {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

function settings() {
  const data = new FormData(form);
  return { tier: data.get("tier"), windowMs: Number(data.get("window")), calls: Number(data.get("calls")), size: data.get("size") };
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  start(settings()).catch((error) => {
    dashboard.state = "failed";
    status(`Could not run: ${error.message}`);
  });
});

// ?tier=tight&window=2000&calls=30&size=small&start presets the controls (and starts).
const query = new URLSearchParams(location.search);
for (const name of ["tier", "window", "calls", "size"]) if (query.has(name)) form.elements[name].value = query.get(name);
if (query.has("start")) form.requestSubmit();
