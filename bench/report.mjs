// The markdown of the results: the whole report (results.md) and the part
// the README shows between its bench markers.
const n = (v, digits = 0) => (v == null ? "—" : Number(v).toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const s = (ms) => (ms == null ? "—" : `${(ms / 1000).toFixed(1)} s`);
const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

function goodputTable({ goodput }) {
  const lines = [
    "| contender | succeeded | failed | time | × theoretical minimum | 429s | 429s after the first answer | p50 | p99 |",
    "|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of goodput.rows) {
    lines.push(`| ${r.name} | ${r.succeeded} | ${r.failed} | ${s(r.completionMs)} | ${r.ratio.toFixed(3)}×${r.failed ? " (gave up)" : ""} | ${r.rateLimited} | ${r.rateLimitedAfterFirstAnswer} | ${s(r.p50Ms)} | ${s(r.p99Ms)} |`);
  }
  return lines.join("\n");
}

function goodputSetup({ goodput }) {
  const { mock } = goodput;
  const l = mock.limits;
  return [
    `${mock.calls} calls offered at once (100 to 1,600 input tokens and 50 to 400 \`max_tokens\` each, the same calls for every contender),`,
    `all contenders at the same time on one mock server, each on its own model (its own buckets). Limits per ${mock.windowMs / 1000} s window:`,
    `${n(l.requestsPerMinute)} requests, ${n(l.inputTokensPerMinute)} input tokens, ${n(l.outputTokensPerMinute)} output tokens, refilled continuously;`,
    `remaining tokens rounded to thousands; every answer takes ${mock.latencyMs} ms (answers of seconds: "under real conditions" below). That is an Anthropic tier-1-sized budget with time running ${mock.scale}× faster`,
    `than with per-minute limits. Theoretical minimum: ${s(mock.theoreticalMinimumMs)}. Time is until the last call settled (succeeded or`,
    `failed: a contender that gave up on calls finishes early); p50/p99 are over the calls that succeeded, from the moment all were offered.`,
  ].join("\n");
}

function realTable({ real }) {
  const lines = [
    `| condition (${real.mock.seeds} seeds each) | × minimum (min / median / max) | minimum (median) | first answer (median) | 429s after the first answer per 1,000 calls (worst seed) | answered |`,
    "|---|---|---|---|---|---|",
  ];
  for (const r of real.rows) {
    const { min, median, max } = r.ratio;
    lines.push(`| ${r.name} | ${min.toFixed(3)} / ${median.toFixed(3)} / ${max.toFixed(3)} | ${s(r.medianMinimumMs)} | ${s(r.medianFirstAnswerMs)} | ${n(r.rateLimitedAfterFirstAnswerPer1000, 1)} (${n(r.worstSeedPer1000)}) | ${n(r.succeeded)} of ${n(r.calls)} |`);
  }
  return lines.join("\n");
}

function realSetup({ real }) {
  const { mock } = real;
  const l = mock.limits;
  const [low, high] = mock.outputFraction;
  return [
    `Under real conditions: ${mock.calls} calls offered at once per burst (100 to 1,600 input tokens and 50 to 400 \`max_tokens\` each), one burst per condition and seed,`,
    `headroom's \`Throttler\` as the Anthropic SDK's \`fetch\` (SDK \`maxRetries: 0\`, throttler defaults), each burst on a mock server of its own,`,
    `all conditions side by side (${mock.rounds} rounds of seeds; a round's bursts start ${n(mock.staggerMs / 1000, 1)} s apart, seed by seed, each seed's conditions in an order turned by one, so that the conditions start about as often into the load of the bursts already running; each burst is timed from its own start). The goodput budget (${n(l.requestsPerMinute)} requests, ${n(l.inputTokensPerMinute)} input and`,
    `${n(l.outputTokensPerMinute)} output tokens per ${mock.windowMs / 1000} s), answered as Anthropic documents its API: each answer takes a time drawn`,
    "log-uniformly from the range named, the rate-limit headers of an answer are those of the moment its call was admitted (its `Date` the answer's own), each answer",
    `writes ${low * 100} to ${high * 100} % of its \`max_tokens\` and the rest goes back to the output bucket, and a prompt prefix marked \`cache_control\``,
    "is read from the cache (free against input tokens) once the answer of the call that wrote it has begun; no time is spent on the wire (loopback). An estimate 25 % high or low",
    "is the server's own count of the input times 1.25 or 0.75, given as the throttler's `estimate` (which calibrates itself from the answers'",
    "`usage`); the built-in rows use headroom's own estimate. The minimum of a burst is the limit-bound time of what its server charged",
    "(cache reads excluded, output net of what answers gave back) plus the mean time of its answers; a burst's time runs until its last call settled.",
    `The whole run took ${s(real.durationMs)} (event loop delay p99 ${n(real.eventLoopDelayMs.p99, 1)} ms).`,
  ].join("\n");
}

function overheadTable({ overhead }) {
  const lines = ["| library | calls | `run` (trivial task, 64 in flight): calls / s | vs p-limit | `fetch` (body read, headers parsed, 32 in flight): calls / s | vs p-limit |", "|---|---|---|---|---|---|"];
  const pLimit = (rows) => rows?.find((r) => r.library === "p-limit")?.callsPerSecond;
  for (const r of overhead.rows) {
    const f = overhead.fetchRows?.find((x) => x.library === r.library);
    const fetchCells = f ? `${n(f.callsPerSecond)} | ${(f.callsPerSecond / pLimit(overhead.fetchRows)).toFixed(3)}×` : "— | —";
    lines.push(`| ${r.library} | ${n(r.calls)} | ${n(r.callsPerSecond)} | ${(r.callsPerSecond / pLimit(overhead.rows)).toFixed(3)}× | ${fetchCells} |`);
  }
  return lines.join("\n");
}

function queuedTable({ scale }) {
  const pQueue = scale.queued.find((r) => r.library === "p-queue");
  const lines = [
    `| ${n(scale.queuedCalls)} calls queued behind one slot | RSS per call | JS heap + wasm memory per call | vs p-queue (RSS) |`,
    "|---|---|---|---|",
  ];
  for (const r of scale.queued) lines.push(`| ${r.library} | ${n(r.rssPerCall)} B | ${n(r.heapPerCall)} B | ${(r.rssPerCall / pQueue.rssPerCall).toFixed(2)}× |`);
  return lines.join("\n");
}

function sizeTable({ startup }) {
  const { size, node, workerd } = startup;
  return [
    "| what | measured |",
    "|---|---|",
    `| \`.wasm\` | ${n(size.bytes)} bytes, ${n(size.gzipped)} gzipped |`,
    `| Node: \`import("headroom")\` | ${n(node.importMs, 1)} ms (median of ${node.runs} fresh processes) |`,
    `| Node: first call after import (new Throttler, one fetch) | ${n(node.firstCallMs, 1)} ms${node.firstCallWithoutMs === undefined ? "" : `, the same call without headroom ${n(node.firstCallWithoutMs, 1)} ms (a process's first \`Response\` loads Node's fetch)`} |`,
    `| workerd: start and answer a first request, with headroom | ${n(workerd.withHeadroom.totalMs)} ms, without ${n(workerd.without.totalMs)} ms: +${n(workerd.addedMs)} ms (median of ${workerd.runs}) |`,
    `| workerd: of which in the first request itself | ${n(workerd.withHeadroom.firstRequestMs, 1)} ms, without ${n(workerd.without.firstRequestMs, 1)} ms: +${n(workerd.addedFirstRequestMs, 1)} ms; the rest is the Worker's start (the module instantiated) |`,
  ].join("\n");
}

function scaleTable({ scale }) {
  const lines = ["| queued at once | time per call | enqueue per call | peak JS heap | peak wasm memory | bytes per queued call |", "|---|---|---|---|---|---|"];
  for (const r of scale.rows) {
    lines.push(`| ${n(r.calls)} | ${n(r.msPerCall * 1000, 1)} µs | ${n(r.enqueueUsPerCall, 1)} µs | +${mib(r.peakHeapBytes)} | +${mib(r.peakWasmBytes)} (${mib(r.wasmMemoryBytes)} in all) | ${n(r.bytesPerCall)} |`);
  }
  return lines.join("\n");
}

function keysTable({ keys }) {
  const lines = [
    "| distinct keys, each used once by `run` (1,000 at a time) | time per call | the same calls on one key | ratio | memory after (JS heap + wasm), against one key | partitions listed after |",
    "|---|---|---|---|---|---|",
  ];
  for (const r of keys.rows) {
    lines.push(`| ${n(r.keys)} | ${n(r.distinct.usPerCall, 1)} µs | ${n(r.one.usPerCall, 1)} µs | ${n(r.ratio, 2)}× | +${mib(r.distinct.memoryAfterBytes)} (one key +${mib(r.one.memoryAfterBytes)}) | ${n(r.distinct.partitions)} |`);
  }
  return lines.join("\n");
}

const OVERHEAD_SETUP = "`run`: a trivial task (an async function that returns at once) through `throttler.run`, `limit(task)`, `queue.add(task)` and `limiter.schedule(task)`, 64 in flight. `fetch`: headroom's drop-in `fetch` with a JSON body it reads and estimates, and a fake `fetch` that answers at once with Anthropic rate-limit headers it parses on every call, against the same fake `fetch` through each other library, 32 in flight.";

const QUEUED_SETUP = "Memory per waiting call: calls offered at once behind one slot held by a task that never ends, each library in a fresh process; resident memory, and the JS heap plus the wasm memory (Node's `external`), after a full GC, against before.";

const KEYS_SETUP = "Partitions at scale: each count of distinct keys, and the same count of calls on one key, in a fresh process each; the work ends at once and the budget is ample. Memory after: the JS heap (after GC and finalizers) plus the wasm memory's growth, which never shrinks (its peak).";

function coordinatorTable({ coordinator }) {
  const lines = [`| a Worker's calls, one after another (${n(coordinator.calls)} calls, median of ${coordinator.rounds} rounds) | time per call | added by the coordinator |`, "|---|---|---|"];
  for (const r of coordinator.rows) lines.push(`| ${r.name} | ${n(r.msPerCall, 2)} ms | ${r.leaseSize === null ? "—" : `+${n(r.addedMs, 2)} ms`} |`);
  return lines.join("\n");
}

function redisTable({ redis }) {
  const lines = [`| one process's calls, one after another (${n(redis.calls)} calls, ${redis.latencyMs} ms answers, median of ${redis.rounds} rounds) | time per call | added by Redis |`, "|---|---|---|"];
  for (const r of redis.rows) lines.push(`| ${r.name} | ${n(r.msPerCall, 2)} ms | ${r.leaseSize === null ? "—" : `+${n(r.addedMs, 2)} ms`} |`);
  return lines.join("\n");
}

function redisBurstTable({ redis: { burst } }) {
  const lines = [`| the same burst of ${n(burst.calls)} calls (${n(burst.limits.requestsPerMinute)} requests a ${burst.windowMs / 1000} s window; at best ${s(burst.minimumMs)}; median of ${burst.rounds}) | time | × one process alone |`, "|---|---|---|"];
  for (const r of burst.rows) lines.push(`| ${r.name} | ${s(r.ms)} | ${r.ratio.toFixed(3)}× |`);
  return lines.join("\n");
}

const REDIS_SETUP = "A `redis-server` 7 on loopback, node-redis, the mock API on this machine; each variant in a fresh process, variants in turns. In production Redis is a network hop away: the round trip, and what a lease saves, are larger.";

function readingTable({ reading }) {
  const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
  return [
    `| \`throttler.fetch\` of one call, body read and estimated (median of ${reading.runs}) | time |`,
    "|---|---|",
    `| text alone (${n(reading.textBytes)} bytes) | ${n(reading.textMs, 2)} ms |`,
    `| the same call with one image (${mb(reading.imageBytes)} body) | ${n(reading.imageMs, 2)} ms (+${n(reading.imageMs - reading.textMs, 2)} ms) |`,
    `| for scale: one copy of that body as UTF-8 (\`TextEncoder.encodeInto\`) | ${n(reading.copyMs, 2)} ms |`,
  ].join("\n");
}

function targets(results) {
  const { goodput, overhead, startup } = results;
  const h = goodput.rows.find((r) => r.name === "headroom");
  const others = goodput.rows.filter((r) => r.name !== "headroom");
  const cps = Object.fromEntries(overhead.rows.map((r) => [r.library, r.callsPerSecond]));
  const mark = (ok) => (ok ? "met" : "**missed**");
  const fasterThanAll = others.every((r) => r.failed > 0 || r.completionMs > h.completionMs);
  const fewer429 = others.every((r) => r.rateLimited >= h.rateLimited);
  return [
    "| target | measured | |",
    "|---|---|---|",
    `| goodput within 5 % of the theoretical minimum | ${h.ratio.toFixed(3)}× | ${mark(h.ratio <= 1.05)} |`,
    `| no 429 after the first answer | ${h.rateLimitedAfterFirstAnswer} | ${mark(h.rateLimitedAfterFirstAnswer === 0)} |`,
    `| better than every other row on time (of those that completed every call) and 429s | ${fasterThanAll && fewer429 ? "yes" : "no"} | ${mark(fasterThanAll && fewer429)} |`,
    `| \`run\` calls at least half of p-limit's throughput | ${(cps.headroom / cps["p-limit"]).toFixed(3)}× | ${mark(cps.headroom >= cps["p-limit"] / 2)} |`,
    `| overhead above bottleneck | ${(cps.headroom / cps.bottleneck).toFixed(1)}× | ${mark(cps.headroom > cps.bottleneck)} |`,
    `| \`.wasm\` under 80 KB gzipped | ${n(startup.size.gzipped / 1000, 1)} KB | ${mark(startup.size.gzipped < 80_000)} |`,
    `| import under 10 ms in Node | ${n(startup.node.importMs, 1)} ms | ${mark(startup.node.importMs < 10)} |`,
    `| workerd: a Worker's start and first request under 15 ms more than without headroom | +${n(startup.workerd.addedMs)} ms | ${mark(startup.workerd.addedMs < 15)} |`,
  ].join("\n");
}

export function renderMarkdown(results) {
  const parts = [
    "# Benchmark results",
    "",
    `Measured ${results.date.slice(0, 10)} with \`npm run bench\` on ${results.machine.cpus} cores (${results.machine.cpu}), Node ${results.machine.node}, ${results.machine.platform}.`,
    "The raw figures are in `results.json`.",
  ];
  if (results.goodput && results.overhead && results.startup) parts.push("", "## Targets", "", targets(results));
  if (results.goodput) {
    parts.push("", "## Goodput", "", goodputSetup(results), "", goodputTable(results), "", "Setups:", "");
    for (const r of results.goodput.rows) parts.push(`- **${r.name}**: ${r.setup}.${r.failures.length ? ` Failures: ${r.failures.join(", ")}.` : ""}`);
    parts.push("", `The server admitted ${n(results.goodput.server.admitted)} calls and refused ${n(results.goodput.server.refused)}; no admitted call took a bucket below zero (lowest levels: ${Object.entries(results.goodput.server.minLevels).map(([k, v]) => `${k} ${n(v, 1)}`).join(", ")}).`);
    parts.push("", "![Budget left on the server, headroom and the SDK alone](budget.svg)", "", "![429s received over time](rate-limited.svg)");
  }
  if (results.real) parts.push("", "## Goodput under real conditions", "", realSetup(results), "", realTable(results));
  if (results.overhead) {
    const o = results.overhead;
    parts.push("", "## Overhead", "", `${OVERHEAD_SETUP} Each library in a fresh process, after a warm-up of a tenth of the calls (at most ${n(o.warmup)}); the best of ${o.rows[0].runs.length} runs. bottleneck takes about 2.5 ms a call whatever the count, so it runs ${n(o.callsFor?.bottleneck ?? o.calls)} calls instead of ${n(o.calls)}.`, "", overheadTable(results));
  }
  if (results.startup) parts.push("", "## Size and start-up", "", "The workerd figures are timed from outside (workerd's clock stands still while code runs): Miniflare started, the Worker bundled as wrangler does, and its first request answered, against the same Worker without headroom.", "", sizeTable(results));
  if (results.coordinator) parts.push("", "## Coordinator", "", "One budget for many isolates costs a round trip to the Durable Object before a call (saved by a lease's spare grants) and a message after it. workerd through Miniflare on loopback, where the object, the Worker and the mock API share this machine's cores: in production the object is a network hop away, so the round trip costs more and the lease saves more.", "", coordinatorTable(results));
  if (results.redis) parts.push("", "## Redis coordinator", "", REDIS_SETUP, "", redisTable(results), "", `Sharing: calls the mock API admitted over the limit in these bursts (it enforced nothing): ${results.redis.burst.overdrawn}.`, "", redisBurstTable(results));
  if (results.reading) parts.push("", "## Reading a request", "", "The image's base64 is found by search (`indexOf`) and only its header is read; the text is read a chunk at a time.", "", readingTable(results));
  if (results.scale?.queued) parts.push("", "## Queued calls", "", QUEUED_SETUP, "", queuedTable(results));
  if (results.scale) parts.push("", "## Scale", "", "Calls offered to one Throttler at once (ample budget, instant `fetch`, 32 in flight), each size in a fresh process; memory above what the process held before, sampled every 5 ms and once when all calls were queued.", "", scaleTable(results));
  if (results.keys) parts.push("", "## Many partitions", "", KEYS_SETUP, "", keysTable(results));
  return parts.join("\n") + "\n";
}

export function readmeSection(results) {
  return [
    `Measured with \`npm run bench\` (${results.date.slice(0, 10)}, ${results.machine.cpus} cores, Node ${results.machine.node}); all figures, setups and charts: [bench/results/results.md](bench/results/results.md).`,
    "",
    goodputSetup(results),
    "",
    goodputTable(results),
    "",
    "![Budget left on the server during the burst: headroom and the SDK alone](bench/results/budget.svg)",
    "",
    ...(results.real ? [realSetup(results), "", realTable(results), ""] : []),
    `Overhead (${n(results.overhead.calls)} calls offered at once, ample budget). ${OVERHEAD_SETUP}`,
    "",
    overheadTable(results),
    "",
    ...(results.scale?.queued ? [QUEUED_SETUP, "", queuedTable(results), ""] : []),
    sizeTable(results),
    "",
    scaleTable(results),
    "",
    ...(results.keys ? [KEYS_SETUP, "", keysTable(results), ""] : []),
    ...(results.coordinator ? ["Sharing one budget through the Durable Object coordinator (workerd on loopback):", "", coordinatorTable(results), ""] : []),
    ...(results.redis ? ["Sharing one budget through Redis (`headroom/redis`, redis-server on loopback):", "", redisTable(results), "", redisBurstTable(results), ""] : []),
    ...(results.reading ? ["Reading a request with a large image (its base64 found by search, only its header read):", "", readingTable(results), ""] : []),
  ].join("\n");
}
