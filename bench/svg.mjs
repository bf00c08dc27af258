// Small line charts as SVG text: panels of series over a shared time axis.
const escape = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

/**
 * panels: [{ title, series: [{ name, color, points: [[x, y]], step? }] }]
 * stacked vertically; x in seconds; y from 0 to yMax.
 */
export function lineChart({ title, panels, xMax, yMax, yLabel, xLabel = "seconds since the burst", width = 760, panelHeight = 220 }) {
  const margin = { left: 60, right: 170, top: 34, bottom: 40 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = panelHeight - 50;
  const height = margin.top + panels.length * panelHeight + 10;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="600">${escape(title)}</text>`,
  ];
  const xTicks = niceTicks(xMax);
  const yTicks = niceTicks(yMax);
  panels.forEach((panel, p) => {
    const top = margin.top + p * panelHeight + 18;
    const x = (v) => margin.left + (v / xMax) * plotWidth;
    const y = (v) => top + plotHeight - (Math.min(v, yMax) / yMax) * plotHeight;
    out.push(`<text x="${margin.left}" y="${top - 6}" font-weight="600">${escape(panel.title)}</text>`);
    for (const t of yTicks) {
      out.push(`<line x1="${margin.left}" x2="${margin.left + plotWidth}" y1="${y(t)}" y2="${y(t)}" stroke="#e5e5e5"/>`);
      out.push(`<text x="${margin.left - 6}" y="${y(t) + 4}" text-anchor="end" fill="#555">${t}</text>`);
    }
    for (const t of xTicks) out.push(`<text x="${x(t)}" y="${top + plotHeight + 16}" text-anchor="middle" fill="#555">${t}</text>`);
    out.push(`<rect x="${margin.left}" y="${top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#999"/>`);
    if (p === panels.length - 1) out.push(`<text x="${margin.left + plotWidth / 2}" y="${top + plotHeight + 32}" text-anchor="middle" fill="#333">${escape(xLabel)}</text>`);
    out.push(`<text transform="translate(16 ${top + plotHeight / 2}) rotate(-90)" text-anchor="middle" fill="#333">${escape(yLabel)}</text>`);
    panel.series.forEach((s, i) => {
      let points = s.points;
      if (s.step) points = points.flatMap(([px, py], j) => (j ? [[px, points[j - 1][1]], [px, py]] : [[px, py]]));
      const d = points.map(([px, py], j) => `${j ? "L" : "M"}${x(px).toFixed(1)},${y(py).toFixed(1)}`).join("");
      if (d) out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.6"/>`);
      const ly = top + 12 + i * 18;
      out.push(`<line x1="${margin.left + plotWidth + 12}" x2="${margin.left + plotWidth + 32}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="3"/>`);
      out.push(`<text x="${margin.left + plotWidth + 38}" y="${ly}">${escape(s.name)}</text>`);
    });
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}

function niceTicks(max, count = 5) {
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
  const ticks = [];
  for (let t = 0; t <= max + 1e-9; t += step) ticks.push(Number(t.toFixed(6)));
  return ticks;
}
