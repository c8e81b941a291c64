// Charts over the last 24 hours with uPlot (served from the package's node_modules): one point per minute,
// minutes without a point in the API's series drawn as zero.
import uPlot from '/assets/uplot.js';
import { bytes, h } from './api.js';

const COLORS = { '1xx': '#7a7a7a', '2xx': '#2e7d32', '3xx': '#1565c0', '4xx': '#ef6c00', '5xx': '#c62828', in: '#1565c0', out: '#6a1b9a' };

/** Every minute of the last 24 hours (Unix seconds), oldest first. */
export function lastDayMinutes(now = Date.now()) {
  const end = Math.floor(now / 60_000) * 60;
  const xs = [];
  for (let t = end - 24 * 3600 + 60; t <= end; t += 60) xs.push(t);
  return xs;
}

/** `series` ([{t, ...}]) as one array per key over `xs`, zero where the series has no point. */
export function align(xs, series, keys) {
  const at = new Map(series.map((p) => [p.t, p]));
  return keys.map((k) => xs.map((t) => at.get(t)?.[k] ?? 0));
}

/**
 * A line chart of `keys` of `series` over the last 24 hours in a new element; `unit` 'bytes' formats the
 * axis in bytes, anything else as a count per minute.
 */
export function dayChart(title, series, keys, unit) {
  const box = h('figure', { class: 'chart' }, h('figcaption', {}, title));
  const xs = lastDayMinutes();
  const data = [xs, ...align(xs, series, keys)];
  const fmt = unit === 'bytes' ? (v) => bytes(v) : (v) => String(v);
  // Counts step by whole numbers; bytes by powers of two.
  const incrs = unit === 'bytes' ? Array.from({ length: 50 }, (_, i) => 2 ** i) : [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 1e6, 1e7];
  const opts = {
    width: 640, height: 220,
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(unit === 'bytes' ? 1024 : 5, max)] } },
    series: [{}, ...keys.map((k) => ({ label: k, stroke: COLORS[k] ?? '#333', width: 1.5, value: (_u, v) => (v === null ? '-' : fmt(v)) }))],
    axes: [{}, { size: 70, incrs, values: (_u, vals) => vals.map(fmt) }],
    legend: { live: true },
  };
  new uPlot(opts, data, box);
  return box;
}
