// The benchmark: `npm run bench`. Runs every section once, writes
// bench/results/results.json, results.md and the charts, and puts the table
// between the bench markers of README.md. Sections can be picked:
//   node bench/run.mjs [goodput] [real] [overhead] [startup] [scale] [keys] [coordinator] [redis] [reading]
// (a partial run rewrites only the JSON of its sections, then the report
// from whatever results.json holds).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runCoordinator } from "./coordinator.mjs";
import { runGoodput } from "./goodput.mjs";
import { runOverhead } from "./overhead.mjs";
import { runReading } from "./reading.mjs";
import { runKeys } from "./keys.mjs";
import { runReal } from "./real.mjs";
import { runRedis } from "./redis.mjs";
import { runScale } from "./scale.mjs";
import { runStartup } from "./startup.mjs";
import { lineChart } from "./svg.mjs";
import { renderMarkdown, readmeSection } from "./report.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const resultsDir = join(root, "bench", "results");
const jsonPath = join(resultsDir, "results.json");
mkdirSync(resultsDir, { recursive: true });

const all = ["goodput", "real", "overhead", "startup", "scale", "keys", "coordinator", "redis", "reading"];
const picked = process.argv.slice(2).filter((a) => all.includes(a));
const sections = picked.length ? picked : all;
const previous = existsSync(jsonPath) ? JSON.parse(readFileSync(jsonPath, "utf8")) : {};
const results = {
  ...previous,
  machine: { node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model, platform: `${os.platform()} ${os.arch()}` },
  date: new Date().toISOString(),
};

// Every section has its own bound; this one stops a run that somehow hangs.
const watchdog = setTimeout(() => {
  console.error("bench: still running after 20 minutes; stopping");
  process.exit(1);
}, 20 * 60_000);
watchdog.unref();

for (const section of sections) {
  console.log(`\n${section}`);
  const started = Date.now();
  if (section === "goodput") results.goodput = await runGoodput();
  if (section === "real") results.real = await runReal();
  if (section === "overhead") results.overhead = runOverhead();
  if (section === "startup") results.startup = await runStartup();
  if (section === "scale") results.scale = runScale();
  if (section === "keys") results.keys = runKeys();
  if (section === "coordinator") results.coordinator = await runCoordinator();
  if (section === "redis") results.redis = await runRedis();
  if (section === "reading") results.reading = runReading();
  console.log(`  (${((Date.now() - started) / 1000).toFixed(0)} s)`);
}

writeFileSync(jsonPath, JSON.stringify(results, null, 1) + "\n");

if (results.goodput) {
  const { timelines, mock } = results.goodput;
  const xMax = Math.ceil(Math.max(...Object.values(timelines).flatMap((t) => t.samples.map((s) => s[0]))) / 1000 / 10) * 10;
  const dims = [["requests", "#1f77b4", 1], ["input tokens", "#2ca02c", 2], ["output tokens", "#d62728", 3]];
  const budgetPanel = (name) => ({
    title: name,
    series: dims.map(([label, color, column]) => ({
      name: label, color, points: timelines[name].samples.map((s) => [s[0] / 1000, s[column] * 100]),
    })),
  });
  writeFileSync(join(resultsDir, "budget.svg"), lineChart({
    title: `Budget left on the server during a burst of ${mock.calls} calls`,
    panels: [budgetPanel("headroom"), budgetPanel("SDK alone")],
    xMax, yMax: 100, yLabel: "% of the limit left",
  }));
  const colors = ["#1f77b4", "#ff7f0e", "#9467bd", "#2ca02c", "#d62728", "#8c564b"];
  writeFileSync(join(resultsDir, "rate-limited.svg"), lineChart({
    title: "429s received, cumulative",
    panels: [{
      title: `each contender offered the same ${mock.calls} calls at once`,
      series: Object.entries(timelines).map(([name, t], i) => ({
        name, color: colors[i % colors.length], step: true,
        points: [[0, 0], ...t.rateLimitedAt.map((at, j) => [at / 1000, j + 1]), [xMax, t.rateLimitedAt.length]],
      })),
    }],
    xMax, yMax: Math.max(10, ...Object.values(timelines).map((t) => t.rateLimitedAt.length)), yLabel: "429s",
  }));
}

const markdown = renderMarkdown(results);
writeFileSync(join(resultsDir, "results.md"), markdown);
const readmePath = join(root, "README.md");
const readme = readFileSync(readmePath, "utf8");
const start = "<!-- bench:start -->";
const end = "<!-- bench:end -->";
if (readme.includes(start) && readme.includes(end) && results.goodput && results.overhead && results.startup && results.scale) {
  const before = readme.slice(0, readme.indexOf(start) + start.length);
  const after = readme.slice(readme.indexOf(end));
  writeFileSync(readmePath, `${before}\n${readmeSection(results)}${after}`);
  console.log("\nwrote bench/results/ and the README's benchmark section");
} else {
  console.log("\nwrote bench/results/");
}
clearTimeout(watchdog);
