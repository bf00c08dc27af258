// Small SVG charts over a shared time axis, drawn by hand: a line chart for
// values sampled over time and a bar chart for counts per second. Each call
// redraws the whole chart; a burst has at most a few thousand points.

const NS = "http://www.w3.org/2000/svg";
const WIDTH = 360;
const HEIGHT = 150;
const MARGIN = { left: 46, right: 10, top: 10, bottom: 22 };
const PLOT = { width: WIDTH - MARGIN.left - MARGIN.right, height: HEIGHT - MARGIN.top - MARGIN.bottom };

function element(name, attributes = {}, text) {
  const node = document.createElementNS(NS, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** 1, 2 or 5 times a power of ten, giving about `count` steps over `span`. */
function niceStep(span, count) {
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= raw);
}

const formatNumber = (n) => (n >= 1000 ? `${Number((n / 1000).toFixed(1))}k` : String(Math.round(n)));

/** An empty chart in `svg`: frame, gridlines, axis labels and shaded pauses; returns the scales. */
function frame(svg, { xMaxMs, yMax, pauses = [] }) {
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
  const x = (ms) => MARGIN.left + (Math.min(ms, xMaxMs) / xMaxMs) * PLOT.width;
  const y = (v) => MARGIN.top + PLOT.height - (Math.max(0, Math.min(v, yMax)) / yMax) * PLOT.height;

  for (const { fromMs, untilMs } of pauses) {
    svg.append(element("rect", { class: "pause", x: x(fromMs), y: MARGIN.top, width: Math.max(1, x(untilMs) - x(fromMs)), height: PLOT.height }));
  }
  const yStep = niceStep(yMax, 4);
  for (let v = 0; v <= yMax + 1e-9; v += yStep) {
    svg.append(element("line", { class: "grid", x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(v), y2: y(v) }));
    svg.append(element("text", { class: "tick", x: MARGIN.left - 6, y: y(v) + 4, "text-anchor": "end" }, formatNumber(v)));
  }
  const xStep = niceStep(xMaxMs / 1000, 5);
  for (let s = 0; s <= xMaxMs / 1000 + 1e-9; s += xStep) {
    svg.append(element("text", { class: "tick", x: x(s * 1000), y: HEIGHT - 6, "text-anchor": "middle" }, `${Math.round(s)} s`));
  }
  svg.append(element("line", { class: "axis", x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(0), y2: y(0) }));
  return { x, y };
}

/**
 * A line per series over time. `series`: [{ points: [[ms, value]], className }];
 * `limit` draws a dashed line at that value.
 */
export function drawLines(svg, { xMaxMs, yMax, series, limit, pauses }) {
  const { x, y } = frame(svg, { xMaxMs, yMax, pauses });
  if (limit !== undefined) {
    svg.append(element("line", { class: "limit", x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(limit), y2: y(limit) }));
  }
  for (const { points, className } of series) {
    if (points.length === 0) continue;
    const d = points.map(([ms, v], i) => `${i ? "L" : "M"}${x(ms).toFixed(1)},${y(v).toFixed(1)}`).join("");
    svg.append(element("path", { class: `line ${className}`, d, "data-points": points.length }));
  }
}

/** Stacked bars per second. `stacks`: [{ counts: [n per second], className }], bottom first. */
export function drawBars(svg, { xMaxMs, yMax, stacks, pauses }) {
  const { x, y } = frame(svg, { xMaxMs, yMax, pauses });
  const seconds = Math.max(0, ...stacks.map((s) => s.counts.length));
  const width = Math.max(1, x(1000) - x(0) - 1);
  for (let second = 0; second < seconds; second++) {
    let base = 0;
    for (const { counts, className } of stacks) {
      const n = counts[second] ?? 0;
      if (n === 0) continue;
      svg.append(element("rect", { class: `bar ${className}`, x: x(second * 1000) + 0.5, y: y(base + n), width, height: y(base) - y(base + n) }));
      base += n;
    }
  }
}
