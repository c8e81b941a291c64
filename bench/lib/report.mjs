/**
 * Turns the harness's results (one JSON line per case, variant, proxy and run) into the Markdown report:
 * targets first, then one table per case with the median of the runs, the min-max spread, and ratios to
 * nginx and Caddy measured in the same run. Usage: node report.mjs META.json RESULTS.jsonl > report.md
 */
import { readFileSync } from 'node:fs';

const [metaFile, resFile] = process.argv.slice(2);
const meta = JSON.parse(readFileSync(metaFile, 'utf8'));
const rows = readFileSync(resFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const PROXIES = meta.proxies.split(/\s+/).filter(Boolean);
const NAMES = { edge: meta.edgeKind === 'cli' ? 'idcs-edge' : 'idcs-edge (STAND-IN)', nginx: 'nginx', haproxy: 'HAProxy', caddy: 'Caddy' };
const L4_NAMES = { edge: NAMES.edge, haproxy: 'HAProxy (mode tcp)', nginx: 'nginx (stream)' };

// ------------------------------------------------------------------ numbers
const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const stats = (xs) => {
  const f = xs.filter((x) => Number.isFinite(x));
  return { med: median(f), min: Math.min(...f), max: Math.max(...f), n: f.length };
};
const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : 'n/a');
const spread = (s, d = 0) => (s.n > 1 ? `${fmt(s.min, d)}–${fmt(s.max, d)}` : '–');
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : NaN);
const fx = (r) => (Number.isFinite(r) ? `${r.toFixed(2)}×` : 'n/a');

const pick = (cs, variant, proxy) => rows.filter((r) => r.case === cs && (variant === undefined || r.variant === variant)
  && (proxy === undefined || r.proxy === proxy));

// Metrics of one wrk run.
const rps = (d) => (d?.wrk ? d.wrk.requests / (d.wrk.duration_us / 1e6) : NaN);
const p50 = (d) => (d?.wrk ? d.wrk.lat_us.p50 / 1000 : NaN);
const p99 = (d) => (d?.wrk ? d.wrk.lat_us.p99 / 1000 : NaN);
const sockErr = (d) => (d?.wrk ? d.wrk.errors.connect + d.wrk.errors.read + d.wrk.errors.write + d.wrk.errors.timeout : NaN);
const non2xx = (d) => (d?.wrk ? d.wrk.errors.status : NaN);
// Proxy CPU per operation (µs): comparable even when the proxy was not the bottleneck. The CPU was read
// over the whole client process (wall seconds), the rate over the measured part.
const cpuPerOp = (rate) => (d) => (d && d.cpuS !== undefined && rate(d) > 0 ? (1e6 * d.cpuS) / (rate(d) * d.wallS) : NaN);
const cpuPerReq = cpuPerOp((d) => rps(d));
const cpuPerRt = cpuPerOp((d) => d.ws?.rtps ?? NaN);
const upPer1k = (d) => (d?.wrk && d.wrk.requests ? (1000 * d.upstreamNew) / d.wrk.requests : NaN);

function med(cs, variant, proxy, f) {
  return stats(pick(cs, variant, proxy).map((r) => f(r.data)));
}

// ------------------------------------------------------------------ markdown helpers
const out = [];
const p = (s = '') => out.push(s);
function table(head, body) {
  p(`| ${head.join(' | ')} |`);
  // Numeric columns right-aligned, text left.
  const numeric = (i) => body.length > 0 && body.every((r) => /^[-\d.,–×% /na*]*$/.test(String(r[i] ?? '')));
  p(`|${head.map((h, i) => (numeric(i) ? ' ---: ' : ' --- ')).join('|')}|`);
  for (const r of body) p(`| ${r.join(' | ')} |`);
  p();
}

// ------------------------------------------------------------------ header
p(`# idcs-edge benchmark — ${meta.date}`);
p();
const warn = [];
if (meta.quick) warn.push('**Quick mode** (`BENCH_QUICK=1`): one short run per case; figures are indicative only, spreads are not available.');
if (meta.edgeKind !== 'cli') warn.push('**The edge figures are from the stand-in** (`bench/lib/standin.mjs`), not from `src/cli.ts`: the CLI could not run the bench config when this report was made.');
if (parseFloat(meta.loadStart) > 0.7) warn.push(`The machine was not idle when the run started (load average ${meta.loadStart}); other work competes for the two cores.`);
const noisy = rows.filter((r) => (r.data?.otherOnProxyCorePct ?? 0) > 10);
if (noisy.length) {
  const worst = Math.max(...noisy.map((r) => r.data.otherOnProxyCorePct));
  warn.push(`Other programs took more than 10 % of the proxy's core in ${noisy.length} of ${rows.filter((r) => r.data?.otherOnProxyCorePct !== undefined).length} runs `
    + `(up to ${fmt(worst)} %; column "others on proxy core %"): those runs understate the proxy under test. Prefer CPU µs / req for comparisons, or re-run on an idle machine.`);
}
for (const w of warn) p(`> ${w}`);
if (warn.length) p();
p(`${meta.runs} run(s) of ${meta.durationS} s per case and proxy (after ${meta.warmupS} s warm-up), proxies interleaved within each round; `
  + `figures are medians over the runs, spread is min–max. Ratios are to nginx and Caddy measured in the same run `
  + `(for throughput higher is better; for latency and memory lower is better). Total ${Math.round(meta.totalS / 60)} min. `
  + `Edge: ${meta.edgeKind === 'cli' ? '`src/cli.ts`' : 'stand-in'} from a copy of src/ taken at the start (commit ${meta.gitCommit}`
  + `${meta.gitDirty ? ' plus uncommitted changes' : ''}, content hash ${meta.srcHash ?? '?'}). How to read this: bench/README.md.`);
p();

// ------------------------------------------------------------------ targets
const T = [];
const target = (name, value, met, note = '', sp = '') => T.push([name, value, sp, met === null ? 'n/a' : met ? 'met' : '**not met**', note]);
const spreadOf = (cs, variant, f, d = 0) => spread(med(cs, variant, 'edge', f), d);
const has = (cs) => rows.some((r) => r.case === cs);

if (has('http-ka')) {
  const e = med('http-ka', 'c50', 'edge', rps).med;
  const rc = ratio(e, med('http-ka', 'c50', 'caddy', rps).med);
  const rn = ratio(e, med('http-ka', 'c50', 'nginx', rps).med);
  // The edge's own count from /metrics after the case (metrics are always on).
  const counted = rows.find((r) => r.case === 'metrics')?.data?.requestsCounted;
  const metricsNote = counted ? `metrics on: the edge's /metrics counted ${fmt(counted)} requests in the HTTP case` : '';
  target('HTTP keep-alive req/s, 50 conns ≥ 1.5× Caddy', `${fmt(e)} req/s = ${fx(rc)} Caddy`, Number.isFinite(rc) ? rc >= 1.5 : null, metricsNote, spreadOf('http-ka', 'c50', rps));
  target('HTTP keep-alive req/s, 50 conns ≥ 0.3× nginx', `${fx(rn)} nginx`, Number.isFinite(rn) ? rn >= 0.3 : null, '', spreadOf('http-ka', 'c50', rps));
}
if (has('https-ka')) {
  const e = med('https-ka', 'c50', 'edge', rps).med;
  const rc = ratio(e, med('https-ka', 'c50', 'caddy', rps).med);
  target('HTTPS keep-alive req/s, 50 conns ≥ 1.5× Caddy', `${fmt(e)} req/s = ${fx(rc)} Caddy`, Number.isFinite(rc) ? rc >= 1.5 : null, '', spreadOf('https-ka', 'c50', rps));
}
for (const cs of ['http-ka', 'https-ka']) {
  if (!has(cs)) continue;
  const e = med(cs, 'c200', 'edge', p99).med;
  const c = med(cs, 'c200', 'caddy', p99).med;
  target(`p99 at 200 conns ≤ Caddy's (${cs === 'http-ka' ? 'HTTP' : 'HTTPS'})`, `${fmt(e, 2)} ms vs ${fmt(c, 2)} ms`, Number.isFinite(e) && Number.isFinite(c) ? e <= c : null,
    '', spreadOf(cs, 'c200', p99, 2));
}
if (has('handshake')) {
  const v = `c${meta.handshakeConns}`;
  const e = med('handshake', v, 'edge', rps).med;
  const rn = ratio(e, med('handshake', v, 'nginx', rps).med);
  const cpu = ratio(med('handshake', v, 'edge', cpuPerReq).med, med('handshake', v, 'nginx', cpuPerReq).med);
  target('New TLS handshakes/s ≥ 0.6× nginx', `${fmt(e)}/s = ${fx(rn)} nginx`, Number.isFinite(rn) ? rn >= 0.6 : null,
    `proxy CPU per handshake ${fx(cpu)} nginx's`, spreadOf('handshake', v, rps));
  const runs = pick('handshake', v, 'edge');
  const worst = Math.max(...runs.map((r) => r.data.upstreamNew ?? Infinity));
  const per1k = median(runs.map((r) => upPer1k(r.data)));
  target('0 upstream reconnects caused by client `Connection: close`',
    `${fmt(per1k, 1)} upstream conns per 1,000 requests (most in one run: ${fmt(worst)})`,
    runs.length ? worst <= meta.handshakeConns : null,
    `met when a run opens no more upstream connections than it has clients (pool refill after idle), i.e. none per request`);
}
if (has('ws-idle')) {
  const variants = [...new Set(pick('ws-idle').map((r) => r.variant))];
  const biggest = variants.sort((a, b) => Number(b.slice(1)) - Number(a.slice(1)))[0];
  const s = med('ws-idle', biggest, 'edge', (d) => d.ws?.perConnKb);
  target('Idle WebSocket ≤ 8 KB proxy RSS per connection', `${fmt(s.med, 1)} KB at ${fmt(Number(biggest.slice(1)))} conns`, Number.isFinite(s.med) ? s.med <= 8 : null, '', spread(s, 1));
}
if (has('ws-echo')) {
  const v = `c${meta.wsEchoConns}`;
  const e = med('ws-echo', v, 'edge', (d) => d.ws?.rtps).med;
  const rn = ratio(e, med('ws-echo', v, 'nginx', (d) => d.ws?.rtps).med);
  const cpu = ratio(med('ws-echo', v, 'edge', cpuPerRt).med, med('ws-echo', v, 'nginx', cpuPerRt).med);
  target('WebSocket echo round trips ≥ 1.0× nginx', `${fmt(e)}/s = ${fx(rn)} nginx`, Number.isFinite(rn) ? rn >= 1.0 : null,
    `proxy CPU per round trip ${fx(cpu)} nginx's (see the case table for whether the proxy was the limit)`, spreadOf('ws-echo', v, (d) => d.ws?.rtps));
}
if (has('routes')) {
  const small = med('routes', 'exact-r1', 'edge', rps).med;
  const big = med('routes', `exact-r${meta.routes}`, 'edge', rps).med;
  const r = ratio(big, small);
  target(`Route table ${fmt(meta.routes)} vs 1 ≥ 0.95× throughput`, `${fx(r)} (${fmt(big)} vs ${fmt(small)} req/s)`, Number.isFinite(r) ? r >= 0.95 : null,
    'exact host; the template host is in the case table', spreadOf('routes', `exact-r${meta.routes}`, rps));
}
if (has('reload')) {
  const runs = pick('reload', 'c50', 'edge');
  const failed = runs.reduce((a, r) => a + sockErr(r.data) + non2xx(r.data), 0);
  target('Reload every second under load: 0 failed requests', `${fmt(failed)} failed of ${fmt(runs.reduce((a, r) => a + (r.data.wrk?.requests ?? 0), 0))}`,
    runs.length ? failed === 0 : null);
}
/** Per change of the fleet case: each edge's time to serve it, and the largest (null: not within the case's 10 s). */
const fleetChanges = () => (pick('fleet', 'changes', 'edge')[0]?.data.changes ?? []).map((c) => {
  const each = Object.values(c.perEdge);
  return { ...c, every: each.some((x) => x === null) ? null : Math.max(...each) };
});
const quantile = (xs, q) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : NaN;
};
if (has('fleet')) {
  const ch = fleetChanges();
  const every = ch.map((c) => c.every ?? Infinity);
  const worst = Math.max(...every);
  target('Route change reaches every edge of a 3-edge fleet within 1 s', `median ${fmt(median(every), 1)} ms, max ${Number.isFinite(worst) ? `${fmt(worst, 1)} ms` : 'not reached'}`,
    ch.length ? worst <= 1000 : null, `${ch.length} changes through one edge's API`);
}
const gbps = (d) => (Number.isFinite(d?.bps) ? d.bps / 1e9 : NaN);
const mbps = (d) => (Number.isFinite(d?.bps) ? d.bps / 1e6 : NaN);
// Proxy CPU seconds per GB carried (the rate was measured over the iperf3 run, the CPU over the same wall time).
const cpuPerGb = (d) => (d && d.cpuS !== undefined && d.bps > 0 ? d.cpuS / ((d.bps / 8) * d.wallS / 1e9) : NaN);
if (has('l4')) {
  for (const [v, what] of [['up', 'client to VM'], ['down', 'VM to client']]) {
    const e = med('l4', v, 'edge', gbps).med;
    const h = med('l4', v, 'haproxy', gbps).med;
    const n = med('l4', v, 'nginx', gbps).med;
    target(`TCP forward throughput (${what}) next to HAProxy and nginx stream`, `${fmt(e, 2)} Gbit/s = ${fx(ratio(e, h))} HAProxy, ${fx(ratio(e, n))} nginx`, null,
      `CPU s per GB ${fx(ratio(med('l4', v, 'edge', cpuPerGb).med, med('l4', v, 'haproxy', cpuPerGb).med))} HAProxy's`, spreadOf('l4', v, gbps, 2));
  }
  const e = med('l4', 'connrate', 'edge', rps).med;
  target('New forwarded TCP connections/s next to HAProxy and nginx stream', `${fmt(e)}/s = ${fx(ratio(e, med('l4', 'connrate', 'haproxy', rps).med))} HAProxy, `
    + `${fx(ratio(e, med('l4', 'connrate', 'nginx', rps).med))} nginx`, null, 'each one an HTTP request with Connection: close', spreadOf('l4', 'connrate', rps));
}
if (has('cap')) {
  for (const [v, what] of [['forward-ingress', 'forward, client to VM'], ['forward-egress', 'forward, VM to client'], ['vm-egress-2conns', 'VM cap shared by 2 connections']]) {
    const m = med('cap', v, 'edge', mbps).med;
    const r = m / meta.capMbps;
    target(`Capped transfer within 10 % of the cap (${what})`, `${fmt(m, 1)} Mbps for a ${meta.capMbps} Mbps cap (${fx(r)})`, Number.isFinite(r) ? Math.abs(r - 1) <= 0.1 : null,
      '', spreadOf('cap', v, mbps, 1));
  }
  const fwd = ratio(med('cap', 'cost-forward-high', 'edge', gbps).med, med('cap', 'cost-forward-none', 'edge', gbps).med);
  const cpu = ratio(med('cap', 'cost-forward-high', 'edge', cpuPerGb).med, med('cap', 'cost-forward-none', 'edge', cpuPerGb).med);
  target('Cost of the cap code on a forward it never slows', `${fx(fwd)} throughput, ${fx(cpu)} CPU per GB of the uncapped forward`, null);
  const http = ratio(med('cap', 'cost-http-policies', 'edge', rps).med, med('cap', 'cost-http-none', 'edge', rps).med);
  target('Cost of the policy step on an uncapped HTTP route (rules and caps elsewhere in the config)', `${fx(http)} req/s of a config without any`, null,
    `${fmt(med('cap', 'cost-http-policies', 'edge', rps).med)} vs ${fmt(med('cap', 'cost-http-none', 'edge', rps).med)} req/s`);
}
p('## Targets');
p();
table(['Target', 'Measured (idcs-edge, median)', 'idcs-edge spread', 'Result', 'Note'], T);

// ------------------------------------------------------------------ HTTP-like cases
function httpTable(cs, variant, title, intro) {
  if (!pick(cs, variant).length) return;
  p(`### ${title}`);
  p();
  if (intro) { p(intro); p(); }
  const base = (proxy, f) => med(cs, variant, proxy, f).med;
  const body = [];
  for (const proxy of PROXIES) {
    const rs = med(cs, variant, proxy, rps);
    if (!rs.n) continue;
    const l50 = med(cs, variant, proxy, p50);
    const l99 = med(cs, variant, proxy, p99);
    body.push([
      NAMES[proxy],
      fmt(rs.med), spread(rs), fx(ratio(rs.med, base('nginx', rps))), fx(ratio(rs.med, base('caddy', rps))),
      fmt(l50.med, 2), fx(ratio(l50.med, base('nginx', p50))), fx(ratio(l50.med, base('caddy', p50))),
      fmt(l99.med, 2), spread(l99, 2), fx(ratio(l99.med, base('nginx', p99))), fx(ratio(l99.med, base('caddy', p99))),
      fmt(med(cs, variant, proxy, (d) => d.cpuPct).med), fmt(med(cs, variant, proxy, cpuPerReq).med, 1),
      fx(ratio(med(cs, variant, proxy, cpuPerReq).med, base('nginx', cpuPerReq))), fx(ratio(med(cs, variant, proxy, cpuPerReq).med, base('caddy', cpuPerReq))),
      fmt(med(cs, variant, proxy, upPer1k).med, 1),
      `${fmt(med(cs, variant, proxy, sockErr).med)} / ${fmt(med(cs, variant, proxy, non2xx).med)}`,
      fmt(med(cs, variant, proxy, (d) => d.otherOnProxyCorePct).med), fmt(med(cs, variant, proxy, (d) => d.loadCorePct).med),
    ]);
  }
  table(['Proxy', 'req/s', 'spread', '× nginx', '× Caddy', 'p50 ms', '× nginx', '× Caddy', 'p99 ms', 'spread', '× nginx', '× Caddy',
    'proxy CPU %', 'CPU µs / req', '× nginx', '× Caddy', 'upstream conns / 1k req', 'socket errors / non-2xx', 'others on proxy core %', 'load core %'], body);
}

p('## Results');
p();
p('Columns: req/s and latency (wrk `--latency`, one thread); × nginx / × Caddy are ratios of medians; proxy CPU % is the');
p('proxy process tree\'s CPU use during the run (100 % = its one core: well below that, the load side was the limit);');
p('CPU µs / req is the proxy\'s CPU time per request, comparable whatever the bottleneck;');
p('upstream conns / 1k req counts connections the proxy opened to the origin (the origin\'s access log);');
p('others on proxy core % is busy time on the proxy\'s core not spent by the proxy (other programs: noise); load core % is how busy');
p('the core with wrk and the origins was (near 100 % with proxy CPU % well below 100: the load side was the limit).');
p();
httpTable('http-ka', 'c50', 'HTTP/1.1 keep-alive, 50 connections');
httpTable('http-ka', 'c200', 'HTTP/1.1 keep-alive, 200 connections');
httpTable('https-ka', 'c50', 'HTTPS keep-alive, 50 connections');
httpTable('https-ka', 'c200', 'HTTPS keep-alive, 200 connections');
httpTable('handshake', `c${meta.handshakeConns}`, `New TLS handshakes (\`Connection: close\` over HTTPS, ${meta.handshakeConns} connections)`,
  'Each request is a new TLS connection; req/s = handshakes/s. wrk resumes the TLS session (1.3 ticket) on about every other reconnect, '
  + 'for every proxy alike, so this is a mix of full and resumed handshakes.');

if (has('ws-echo')) {
  const v = `c${meta.wsEchoConns}`;
  p(`### WebSocket echo round trips (${meta.wsEchoConns} connections, one ${32}-byte message in flight each)`);
  p();
  const f = (d) => d.ws?.rtps;
  const base = (proxy, g) => med('ws-echo', v, proxy, g).med;
  const body = [];
  for (const proxy of PROXIES) {
    const s = med('ws-echo', v, proxy, f);
    if (!s.n) continue;
    const l50 = med('ws-echo', v, proxy, (d) => d.ws?.lat_ms.p50);
    const l99 = med('ws-echo', v, proxy, (d) => d.ws?.lat_ms.p99);
    body.push([NAMES[proxy], fmt(s.med), spread(s), fx(ratio(s.med, base('nginx', f))), fx(ratio(s.med, base('caddy', f))),
      fmt(l50.med, 2), fmt(l99.med, 2), fx(ratio(l99.med, base('nginx', (d) => d.ws?.lat_ms.p99))), fx(ratio(l99.med, base('caddy', (d) => d.ws?.lat_ms.p99))),
      fmt(med('ws-echo', v, proxy, (d) => d.cpuPct).med), fmt(med('ws-echo', v, proxy, cpuPerRt).med, 1),
      fx(ratio(med('ws-echo', v, proxy, cpuPerRt).med, base('nginx', cpuPerRt))), fx(ratio(med('ws-echo', v, proxy, cpuPerRt).med, base('caddy', cpuPerRt))),
      fmt(med('ws-echo', v, proxy, (d) => (d.ws ? d.ws.errors + d.ws.openFailed : NaN)).med),
      fmt(med('ws-echo', v, proxy, (d) => d.otherOnProxyCorePct).med), fmt(med('ws-echo', v, proxy, (d) => d.loadCorePct).med)]);
  }
  table(['Proxy', 'round trips/s', 'spread', '× nginx', '× Caddy', 'p50 ms', 'p99 ms', 'p99 × nginx', 'p99 × Caddy', 'proxy CPU %',
    'CPU µs / round trip', '× nginx', '× Caddy', 'errors', 'others on proxy core %', 'load core %'], body);
  p('The client and the echo origin (both Node.js) share the load core; when the proxy CPU % is well below 100 the client side was '
    + 'the limit, and CPU µs per round trip is the fairer comparison.');
  p();
}

if (has('ws-idle')) {
  p(`### Idle WebSocket memory (proxy RSS growth per open, upgraded connection)`);
  p();
  p(`Each run starts the proxy afresh, opens the connections (each checked with one echo), waits 2 s, and reads VmRSS of the `
    + `proxy's process tree. Connection counts are capped at ${fmt(meta.maxConn)} by the fd limit (${fmt(meta.fdLimit)}; a proxied WebSocket takes two).`);
  p();
  const variants = [...new Set(pick('ws-idle').map((r) => r.variant))].sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
  const body = [];
  const f = (d) => d.ws?.perConnKb;
  for (const v of variants) {
    for (const proxy of PROXIES) {
      const s = med('ws-idle', v, proxy, f);
      if (!s.n) continue;
      body.push([`${fmt(Number(v.slice(1)))}`, NAMES[proxy], fmt(s.med, 1), spread(s, 1),
        fx(ratio(s.med, med('ws-idle', v, 'nginx', f).med)), fx(ratio(s.med, med('ws-idle', v, 'caddy', f).med)),
        fmt(med('ws-idle', v, proxy, (d) => d.ws?.rssBeforeKb / 1024).med, 1), fmt(med('ws-idle', v, proxy, (d) => d.ws?.rssAfterKb / 1024).med, 1),
        fmt(med('ws-idle', v, proxy, (d) => d.ws?.open).med), fmt(med('ws-idle', v, proxy, (d) => d.ws?.failed).med)]);
    }
  }
  table(['Connections', 'Proxy', 'KB / conn', 'spread', '× nginx', '× Caddy', 'RSS before MB', 'RSS after MB', 'open', 'failed'], body);
}

if (has('routes')) {
  p(`### Route table: 1 vs ${fmt(meta.routes)} routes (idcs-edge only)`);
  p();
  p(`The big config has ${fmt(meta.routes / 2)} exact proxies \`r<i>.example.com\` and ${fmt(meta.routes / 2)} templates \`*.u<i>.example.com\` `
    + `(owner \`u<i>\`, one VM each); the small one has one of each. Same traffic: HTTP keep-alive, 50 connections, `
    + 'to an exact host (plain.example.com) and to a template host (vm1.u<last>.example.com).');
  p();
  const body = [];
  for (const kind of ['exact', 'template']) {
    const small = med('routes', `${kind}-r1`, 'edge', rps);
    const big = med('routes', `${kind}-r${meta.routes}`, 'edge', rps);
    for (const [n, s, v] of [[1, small, `${kind}-r1`], [meta.routes, big, `${kind}-r${meta.routes}`]]) {
      if (!s.n) continue;
      body.push([kind, fmt(n), fmt(s.med), spread(s), fmt(med('routes', v, 'edge', p99).med, 2), fx(ratio(s.med, small.med)),
        fmt(med('routes', v, 'edge', (d) => d.cpuPct).med)]);
    }
  }
  table(['Host', 'Routes', 'req/s', 'spread', 'p99 ms', '× 1 route', 'proxy CPU %'], body);
  const st = pick('routes-start');
  if (st.length) {
    table(['Routes', 'config format', 'start-up to listening (s)', 'RSS after start (MB)', 'config size (MB)'],
      st.map((r) => [fmt(Number(r.variant.slice(1).replace('-json', ''))), r.variant.endsWith('-json') ? 'JSON' : 'YAML',
        fmt(r.data.startupMs / 1000, 1), fmt(r.data.rssKb / 1024, 0), fmt(r.data.configBytes / 1048576, 1)]));
  }
}

if (has('reload')) {
  p('### Config rewritten every second under load (idcs-edge only)');
  p();
  p('HTTP keep-alive, 50 connections. Every second the config file is replaced (written to a temp file and renamed) with the '
    + 'probe proxy toggled; half a second later a request to the probe host shows whether the edge had applied it.');
  p();
  const runs = pick('reload', 'c50', 'edge');
  const ref = med('http-ka', 'c50', 'edge', p99).med;
  table(['Run', 'req/s', 'p99 ms', 'socket errors', 'non-2xx', 'rewrites', 'seen applied', 'failed reloads (log)'],
    runs.map((r) => [r.run, fmt(rps(r.data)), fmt(p99(r.data), 2), fmt(sockErr(r.data)), fmt(non2xx(r.data)), r.data.rewrites, r.data.applied, r.data.failedReloads]));
  if (Number.isFinite(ref)) { p(`For reference, p99 without reloads (HTTP keep-alive, 50 connections, this report): ${fmt(ref, 2)} ms.`); p(); }
}

if (has('fleet')) {
  p('### A route change across a fleet (idcs-edge only)');
  p();
  p('Three edges (config.source: redis) on one redis-server, all on the proxy core. Each change adds a proxy through edge a\'s '
    + 'admin API (and removes the one before); from the moment the PUT is sent, each edge is asked for the new host over one '
    + 'keep-alive connection until it answers 200. Edge a applies the change before storing it (its API write); b and c '
    + 'learn of it from Redis pub/sub and apply it through their own apply pipeline. "API answer" includes the write\'s wait '
    + 'for the other edges to report the version (at most 2 s).');
  p();
  const ch = fleetChanges();
  const row = (name, xs) => [name, fmt(median(xs), 1), fmt(quantile(xs, 0.9), 1), fmt(Math.max(...xs.filter(Number.isFinite)), 1)];
  table(['ms from the PUT', 'median', 'p90', 'max'], [
    ...['a', 'b', 'c'].map((e) => row(`served by edge ${e}${e === 'a' ? ' (the writer)' : ''}`, ch.map((c) => c.perEdge[e] ?? Infinity))),
    row('served by every edge', ch.map((c) => c.every ?? Infinity)),
    row('API answer', ch.map((c) => c.writeMs)),
  ]);
}

if (has('workers')) {
  p('### `workers` mode (idcs-edge only)');
  p();
  const na = pick('workers', 'na');
  if (na.length) {
    p(`Not available: ${na[0].data.reason}`);
    p();
  } else {
    p('Both pinned to the same one core (the other core runs the load generator): this shows the cost or gain of the mode, not scaling.');
    p();
    const body = [];
    for (const s of ['http', 'https']) {
      const one = med('workers', `${s}-w1`, 'edge', rps);
      for (const w of [1, 2]) {
        const v = `${s}-w${w}`;
        const x = med('workers', v, 'edge', rps);
        if (!x.n) continue;
        body.push([s.toUpperCase(), w, fmt(x.med), spread(x), fx(ratio(x.med, one.med)), fmt(med('workers', v, 'edge', p99).med, 2), fmt(med('workers', v, 'edge', (d) => d.cpuPct).med)]);
      }
    }
    table(['Scheme', 'workers', 'req/s', 'spread', '× 1 worker', 'p99 ms', 'proxy CPU %'], body);
  }
}

if (has('l4')) {
  p('### TCP forwards: idcs-edge, HAProxy (mode tcp) and nginx (stream module)');
  p();
  p('iperf3 (one stream, on the load core with its server) through a forward, each way; and wrk with `Connection: close` to the HTTP '
    + 'origin through a forward, so every request is a new forwarded connection. CPU s per GB is the proxy\'s CPU time per gigabyte carried, '
    + 'comparable whatever the bottleneck: iperf3 client and server share the load core, so proxy CPU % well below 100 means the load side was the limit.');
  p();
  const body = [];
  for (const v of ['up', 'down']) {
    for (const proxy of ['edge', 'haproxy', 'nginx']) {
      const x = med('l4', v, proxy, gbps);
      if (!x.n) continue;
      body.push([v === 'up' ? 'client → VM' : 'VM → client', L4_NAMES[proxy], fmt(x.med, 2), spread(x, 2),
        fx(ratio(x.med, med('l4', v, 'haproxy', gbps).med)), fx(ratio(x.med, med('l4', v, 'nginx', gbps).med)),
        fmt(med('l4', v, proxy, (d) => d.cpuPct).med), fmt(med('l4', v, proxy, cpuPerGb).med, 2),
        fx(ratio(med('l4', v, proxy, cpuPerGb).med, med('l4', v, 'haproxy', cpuPerGb).med)), fmt(med('l4', v, proxy, (d) => d.loadCorePct).med)]);
    }
  }
  table(['Direction', 'Forwarder', 'Gbit/s', 'spread', '× HAProxy', '× nginx', 'proxy CPU %', 'CPU s / GB', 'CPU × HAProxy', 'load core %'], body);
  const conn = [];
  for (const proxy of ['edge', 'haproxy', 'nginx']) {
    const x = med('l4', 'connrate', proxy, rps);
    if (!x.n) continue;
    conn.push([L4_NAMES[proxy], fmt(x.med), spread(x), fx(ratio(x.med, med('l4', 'connrate', 'haproxy', rps).med)), fx(ratio(x.med, med('l4', 'connrate', 'nginx', rps).med)),
      fmt(med('l4', 'connrate', proxy, p99).med, 2), fmt(med('l4', 'connrate', proxy, (d) => d.cpuPct).med), fmt(med('l4', 'connrate', proxy, cpuPerReq).med, 1),
      `${fmt(med('l4', 'connrate', proxy, sockErr).med)} / ${fmt(med('l4', 'connrate', proxy, non2xx).med)}`]);
  }
  table(['Forwarder', 'connections/s', 'spread', '× HAProxy', '× nginx', 'p99 ms', 'proxy CPU %', 'CPU µs / conn', 'socket errors / non-2xx'], conn);
}

if (has('cap')) {
  p(`### Bandwidth caps (idcs-edge, ${meta.capMbps} Mbps)`);
  p();
  p('iperf3 through a forward with a cap of its own (each way), and two connections at once to a VM whose cap they share; then the cost of '
    + 'the cap code: a forward with a cap it never reaches (100 Gbit/s) against the same forward without one, and HTTP keep-alive to an '
    + 'uncapped route of a config where other proxies and a VM have access rules and caps, against the main edge whose config has none.');
  p();
  const body = [];
  for (const [v, what] of [['forward-ingress', 'forward cap, client → VM'], ['forward-egress', 'forward cap, VM → client'], ['vm-egress-2conns', 'VM cap, 2 connections, VM → client']]) {
    const x = med('cap', v, 'edge', mbps);
    if (!x.n) continue;
    body.push([what, fmt(x.med, 1), spread(x, 1), fx(x.med / meta.capMbps), fmt(med('cap', v, 'edge', (d) => d.cpuPct).med)]);
  }
  table(['Transfer', 'Mbps', 'spread', '× cap', 'proxy CPU %'], body);
  const cost = [];
  for (const [v, what] of [['cost-forward-none', 'forward without a cap'], ['cost-forward-high', 'forward with a cap never reached']]) {
    const x = med('cap', v, 'edge', gbps);
    if (x.n) cost.push([what, `${fmt(x.med, 2)} Gbit/s`, spread(x, 2), fmt(med('cap', v, 'edge', (d) => d.cpuPct).med), `${fmt(med('cap', v, 'edge', cpuPerGb).med, 2)} CPU s / GB`]);
  }
  for (const [v, what] of [['cost-http-none', 'HTTP, config without rules or caps'], ['cost-http-policies', 'HTTP, uncapped route, rules and caps elsewhere']]) {
    const x = med('cap', v, 'edge', rps);
    if (x.n) cost.push([what, `${fmt(x.med)} req/s`, spread(x), fmt(med('cap', v, 'edge', (d) => d.cpuPct).med), `${fmt(med('cap', v, 'edge', cpuPerReq).med, 1)} CPU µs / req`]);
  }
  table(['Path', 'rate', 'spread', 'proxy CPU %', 'cost'], cost);
}

if (has('profile')) {
  p('## Where idcs-edge spends its time (`node --cpu-prof`)');
  p();
  p('Self time by area of code, as a share of the busy (non-idle) samples taken while wrk ran (start-up excluded); one profiled');
  p('run per scenario, 50 connections. The .cpuprofile files are kept in bench/.work/prof/ (open them in Chrome DevTools).');
  p('V8 counts time in libuv outside JavaScript (accept, close, epoll) as idle, so busy % can be low under load that is');
  p('heavy on connection set-up; "socket I/O" is the C++ write path, which for HTTPS includes encryption.');
  p();
  for (const r of pick('profile')) {
    p(`### ${r.variant === 'http' ? 'HTTP keep-alive' : r.variant === 'https' ? 'HTTPS keep-alive' : 'New TLS handshakes'}`);
    p();
    if (r.data.error) { p(r.data.error); p(); continue; }
    p(`Busy ${fmt(r.data.busyPct, 0)} % of the ${fmt(r.data.windowMs / 1000, 1)} s window.`);
    p();
    table(['Area', '% of samples'], r.data.areas.slice(0, 14).map((a) => [a.name, fmt(a.pct, 1)]));
    table(['Top functions (self)', 'where', '%'], r.data.top.slice(0, 12).map((t) => [`\`${t.fn}\``, t.where, fmt(t.pct, 1)]));
  }
}

// ------------------------------------------------------------------ machine
p('## Machine and versions');
p();
const v = meta.versions;
table(['', ''], [
  ['CPU', `${meta.cpuModel} (nproc ${meta.nproc})`], ['Memory', meta.memTotal], ['Kernel', meta.kernel],
  ['Load average at start / end', `${meta.loadStart} / ${meta.loadEnd}`],
  ['Pinning', `proxy under test on CPU ${meta.proxyCpu}; wrk, WebSocket client and origins on CPU ${meta.loadCpu}`],
  ['HTTPS client', meta.sniMode === 'namespace' ? 'https://bench.example.com (SNI and Host bench.example.com; name mapped to 127.0.0.1 in a private mount namespace)' : 'https://127.0.0.1 with Host: bench.example.com (SNI 127.0.0.1)'],
  ['fd limit', fmt(meta.fdLimit)],
  ['node (edge)', v.node], ['http-proxy-3', v['http-proxy-3']], ['nginx', v.nginx], ['HAProxy', v.haproxy], ['Caddy', v.caddy], ['wrk', v.wrk], ['iperf3', v.iperf3 ?? '-'], ['OpenSSL', v.openssl],
]);
process.stdout.write(`${out.join('\n')}\n`);
