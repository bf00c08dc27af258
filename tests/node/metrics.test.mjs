// OpenTelemetry metrics through the `meter` option, read back with the
// OpenTelemetry SDK's own in-memory exporter: every instrument the README
// lists, with its attributes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Throttler } from "headroom";

const URL_ = "http://127.0.0.1:9/v1/messages";
const MODEL = "claude-sonnet-4-6";
const BODY = JSON.stringify({ model: MODEL, max_tokens: 10, messages: [{ role: "user", content: "hi" }] });
const PARTITION = `http://127.0.0.1:9 ${MODEL}`;

function meterAndReader() {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // Exports only when asked (collect), never on a timer of its own.
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  return { meter: provider.getMeter("headroom-test"), reader, provider };
}

/** Every metric collected, by name: { unit, description, points }. */
async function collect(reader) {
  const { resourceMetrics, errors } = await reader.collect();
  assert.deepEqual(errors, []);
  const byName = {};
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      byName[metric.descriptor.name] = { unit: metric.descriptor.unit, description: metric.descriptor.description, points: metric.dataPoints };
    }
  }
  return byName;
}

const headers = {
  "anthropic-ratelimit-requests-limit": "50",
  "anthropic-ratelimit-requests-remaining": "40",
  "anthropic-ratelimit-requests-reset": new Date(Date.now() + 60_000).toISOString(),
};

test("a meter records waits, sends, retries, 429s, refusals and the live budget, with OpenTelemetry attributes", async () => {
  const { meter, reader, provider } = meterAndReader();
  const answers = [{ status: 429, headers: { ...headers, "retry-after-ms": "1" } }, { status: 200, headers }, { status: 200, headers }, { status: 200, headers }];
  const fetch = async () => {
    const next = answers.shift();
    return new Response("{}", next);
  };
  const throttler = new Throttler({ fetch, meter, maxRetries: 2 });
  for (let i = 0; i < 3; i++) assert.equal((await throttler.fetch(URL_, { method: "POST", body: BODY })).status, 200);
  // A call larger than the limit of its partition is refused.
  throttler.observe({ "x-ratelimit-limit-tokens": "1000", "x-ratelimit-remaining-tokens": "1000", "x-ratelimit-reset-tokens": "1s" }, "small");
  await assert.rejects(throttler.run(async () => {}, { key: "small", cost: { tokens: 5000 } }), { code: "COST_EXCEEDS_LIMIT" });

  const metrics = await collect(reader);
  const sum = (points) => points.reduce((n, p) => n + (typeof p.value === "number" ? p.value : p.value.count), 0);
  // Four attempts sent: three calls, one of them twice.
  assert.equal(metrics["headroom.calls.sent"].unit, "{call}");
  assert.deepEqual(metrics["headroom.calls.sent"].points.map((p) => [p.attributes, p.value]), [[{ "headroom.partition": PARTITION }, 4]]);
  const wait = metrics["headroom.wait.duration"];
  assert.equal(wait.unit, "s");
  assert.equal(sum(wait.points), 4, "one wait recorded per attempt sent");
  assert.ok(wait.points[0].value.min >= 0 && wait.points[0].value.max < 60);
  assert.deepEqual(metrics["headroom.calls.retried"].points.map((p) => [p.attributes, p.value]), [[{ "headroom.partition": PARTITION, "http.response.status_code": 429 }, 1]]);
  assert.deepEqual(metrics["headroom.responses.rate_limited"].points.map((p) => [p.attributes, p.value]), [[{ "headroom.partition": PARTITION }, 1]]);
  assert.deepEqual(metrics["headroom.calls.refused"].points.map((p) => [p.attributes, p.value]), [[{ "headroom.partition": "small", "error.type": "COST_EXCEEDS_LIMIT" }, 1]]);
  // The gauges read the live budget: every partition and dimension of the snapshot.
  const snapshot = throttler.snapshot();
  const expected = snapshot.partitions.flatMap((p) => p.dimensions.map((d) => ({ partition: p.key, dimension: d.name, limit: d.limit })));
  const observed = (name) => metrics[name].points.map((p) => ({ partition: p.attributes["headroom.partition"], dimension: p.attributes["headroom.dimension"], value: p.value }));
  assert.deepEqual(observed("headroom.budget.limit").map(({ partition, dimension, value }) => ({ partition, dimension, limit: value })).sort(byKey), expected.sort(byKey));
  const remaining = observed("headroom.budget.remaining").find((p) => p.partition === PARTITION && p.dimension === "requests");
  assert.ok(remaining.value > 38 && remaining.value <= 50, `remaining requests ${remaining.value}`);
  for (const name of ["headroom.wait.duration", "headroom.calls.sent", "headroom.calls.retried", "headroom.calls.refused", "headroom.responses.rate_limited", "headroom.budget.remaining", "headroom.budget.limit"]) {
    assert.ok(metrics[name]?.description, `${name} is described`);
  }
  await provider.shutdown();
});

function byKey(a, b) {
  return `${a.partition} ${a.dimension}`.localeCompare(`${b.partition} ${b.dimension}`);
}

test("without a meter nothing is recorded, and a meter that is not one is a TypeError naming it", () => {
  assert.throws(() => new Throttler({ meter: 5 }), /`meter` to be an OpenTelemetry Meter, got `5`/);
  assert.throws(() => new Throttler({ meter: {} }), (error) => error instanceof TypeError && /`meter` to be an OpenTelemetry Meter \(with createHistogram/.test(error.message));
  // The package never imports OpenTelemetry itself: the user's meter makes
  // the instruments, and the API is only an optional peer dependency.
  const dir = dirname(fileURLToPath(import.meta.resolve("headroom")));
  for (const file of readdirSync(dir, { recursive: true }).filter((f) => /\.(m?js)$/.test(f))) {
    assert.doesNotMatch(readFileSync(join(dir, file), "utf8"), /@opentelemetry/, file);
  }
  const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  assert.equal(manifest.peerDependenciesMeta?.["@opentelemetry/api"]?.optional, true);
  assert.equal(manifest.dependencies?.["@opentelemetry/api"], undefined);
});
