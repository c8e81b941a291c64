/**
 * The numbers of the report, shared by report.mjs (the case tables) and targets.mjs (the targets table):
 * medians and spreads, formatting, ratios, and the metrics each kind of result carries (wrk, h2load, the
 * WebSocket client, iperf3, the apply case). `openResults(rows)` binds the lookups to one run's results.
 */

export const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
export const stats = (xs) => {
  const f = xs.filter((x) => Number.isFinite(x));
  return { med: median(f), min: Math.min(...f), max: Math.max(...f), n: f.length };
};
export const quantile = (xs, q) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : NaN;
};
export const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : 'n/a');
export const spread = (s, d = 0) => (s.n > 1 ? `${fmt(s.min, d)}–${fmt(s.max, d)}` : '–');
export const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : NaN);
export const fx = (r) => (Number.isFinite(r) ? `${r.toFixed(2)}×` : 'n/a');

// Metrics of one wrk run.
export const rps = (d) => (d?.wrk ? d.wrk.requests / (d.wrk.duration_us / 1e6) : NaN);
export const p50 = (d) => (d?.wrk ? d.wrk.lat_us.p50 / 1000 : NaN);
export const p99 = (d) => (d?.wrk ? d.wrk.lat_us.p99 / 1000 : NaN);
export const sockErr = (d) => (d?.wrk ? d.wrk.errors.connect + d.wrk.errors.read + d.wrk.errors.write + d.wrk.errors.timeout : NaN);
export const non2xx = (d) => (d?.wrk ? d.wrk.errors.status : NaN);
export const upPer1k = (d) => (d?.wrk && d.wrk.requests ? (1000 * d.upstreamNew) / d.wrk.requests : NaN);
// Metrics of one h2load run (h2load-json.mjs): succeeded responses per second of the measured duration.
export const h2Rps = (d) => (d?.h2 && !d.h2.error && d.h2.durationS > 0 ? d.h2.succeeded / d.h2.durationS : NaN);
export const h2Mean = (d) => d?.h2?.lat_ms?.mean ?? NaN;
export const h2Max = (d) => d?.h2?.lat_ms?.max ?? NaN;
export const h2Failed = (d) => (d?.h2 && !d.h2.error ? d.h2.failed + d.h2.errored + d.h2.timeout + (d.h2.requests - d.h2.succeeded) : NaN);
// Proxy CPU per operation (µs): comparable even when the proxy was not the bottleneck. The CPU was read
// over the whole client process (wall seconds), the rate over the measured part.
export const cpuPerOp = (rate) => (d) => (d && d.cpuS !== undefined && rate(d) > 0 ? (1e6 * d.cpuS) / (rate(d) * d.wallS) : NaN);
export const cpuPerReq = cpuPerOp(rps);
export const cpuPerH2Req = cpuPerOp(h2Rps);
export const cpuPerRt = cpuPerOp((d) => d.ws?.rtps ?? NaN);
// iperf3 runs.
export const gbps = (d) => (Number.isFinite(d?.bps) ? d.bps / 1e9 : NaN);
export const mbps = (d) => (Number.isFinite(d?.bps) ? d.bps / 1e6 : NaN);
// Proxy CPU seconds per GB carried (the rate was measured over the iperf3 run, the CPU over the same wall time).
export const cpuPerGb = (d) => (d && d.cpuS !== undefined && d.bps > 0 ? d.cpuS / ((d.bps / 8) * d.wallS / 1e9) : NaN);

/** The lookups over one run's results: rows of { case, variant, proxy, run, data }. */
export function openResults(rows) {
  const pick = (cs, variant, proxy) => rows.filter((r) => r.case === cs && (variant === undefined || r.variant === variant)
    && (proxy === undefined || r.proxy === proxy));
  const med = (cs, variant, proxy, f) => stats(pick(cs, variant, proxy).map((r) => f(r.data)));
  const has = (cs) => rows.some((r) => r.case === cs);
  /** Per change of the fleet case: each edge's time to serve it, and the largest (null: not within the case's 10 s). */
  const fleetChanges = () => (pick('fleet', 'changes', 'edge')[0]?.data.changes ?? []).map((c) => {
    const each = Object.values(c.perEdge);
    return { ...c, every: each.some((x) => x === null) ? null : Math.max(...each) };
  });
  /** The apply case's result for one format (yaml, json), with the medians of its API changes; null when absent. */
  const applyOf = (format) => {
    const d = pick('apply', format, 'edge')[0]?.data;
    if (!d) return null;
    const api = d.api ?? [];
    return {
      ...d,
      apiAnswerMs: median(api.map((a) => (a.status >= 200 && a.status < 300 ? a.answerMs : NaN))),
      apiServedMs: median(api.map((a) => a.servedMs ?? NaN)),
      apiCpuMs: median(api.map((a) => a.cpuMs)),
      apiFailed: api.filter((a) => !(a.status >= 200 && a.status < 300) || a.servedMs === null).length,
    };
  };
  return { rows, pick, med, has, fleetChanges, applyOf };
}
