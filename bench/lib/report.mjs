/**
 * Turns the harness's results (one JSON line per case, variant, proxy and run) into the Markdown report:
 * targets first, then one table per case with the median of the runs, the min-max spread, and ratios to
 * nginx and Caddy measured in the same run. Usage: node report.mjs META.json RESULTS.jsonl > report.md
 */
import { readFileSync } from 'node:fs';
import {
  cpuPerGb, cpuPerH2Req, cpuPerReq, cpuPerRt, fmt, fx, gbps, h2Failed, h2Max, h2Mean, h2Rps, mbps, median, non2xx, openResults, p50, p99,
  quantile, ratio, rps, sockErr, spread, upPer1k,
} from './measures.mjs';
import { targets } from './targets.mjs';

const [metaFile, resFile] = process.argv.slice(2);
const meta = JSON.parse(readFileSync(metaFile, 'utf8'));
const rows = readFileSync(resFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const PROXIES = meta.proxies.split(/\s+/).filter(Boolean);
const NAMES = { edge: meta.edgeKind === 'cli' ? 'idcs-edge' : 'idcs-edge (STAND-IN)', nginx: 'nginx', haproxy: 'HAProxy', caddy: 'Caddy' };
const L4_NAMES = { edge: NAMES.edge, haproxy: 'HAProxy (mode tcp)', nginx: 'nginx (stream)' };

const R = openResults(rows);
const { pick, med, has } = R;

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
  + `${meta.gitDirty ? ' plus uncommitted changes' : ''}, content hash ${meta.srcHash ?? '?'}), run with \`npm start\`'s Node flags `
  + `(${meta.edgeNodeFlags ? `\`${meta.edgeNodeFlags}\`` : 'none'}). How to read this: bench/README.md.`);
p();

// ------------------------------------------------------------------ targets
const T = targets(R, meta);
p('## Targets');
p();
p('Issue 14 ("faster than Caddy on every case, with the full pipeline on"). The edge runs with metrics, an access rule and a '
  + 'bandwidth cap it never reaches on every benchmarked proxy (bench/README.md, "Set-up"); "not measured" means the case did not '
  + 'run in this report. Where a target is not met, the profile at the end of the report shows where the CPU goes.');
p();
table(['Target', 'Measured (idcs-edge, median)', 'idcs-edge spread', 'Result', 'Note'], T.issue14);
if (T.earlier.length) {
  p('Targets of earlier issues, still checked:');
  p();
  table(['Target', 'Measured (idcs-edge, median)', 'idcs-edge spread', 'Result', 'Note'], T.earlier);
}

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

if (has('h2')) {
  const v = `c${meta.h2Conns}m${meta.h2Streams}`;
  p(`### HTTP/2 over TLS (h2load, ${meta.h2Conns} connections × ${meta.h2Streams} concurrent streams)`);
  p();
  p('h2load (nghttp2) with ALPN h2 to https://bench.example.com (SNI and :authority the real name, connected to 127.0.0.1), same origin and '
    + 'certificate as the HTTPS case; each proxy speaks HTTP/1.1 to the origin. h2load reports mean and max latency, no percentiles. '
    + 'CPU µs / req is the figure to compare with the HTTPS/1.1 rows above (the issue\'s "at least as fast as HTTP/1.1 per request").');
  p();
  const base = (proxy, f) => med('h2', v, proxy, f).med;
  const body = [];
  for (const proxy of PROXIES) {
    const x = med('h2', v, proxy, h2Rps);
    if (!x.n) continue;
    const cpu = med('h2', v, proxy, cpuPerH2Req).med;
    const protos = [...new Set(pick('h2', v, proxy).map((r) => r.data.h2?.protocol ?? '?'))].join(', ');
    body.push([NAMES[proxy], fmt(x.med), spread(x), fx(ratio(x.med, base('nginx', h2Rps))), fx(ratio(x.med, base('caddy', h2Rps))),
      fmt(med('h2', v, proxy, h2Mean).med, 2), fmt(med('h2', v, proxy, h2Max).med, 2), fmt(med('h2', v, proxy, (d) => d.cpuPct).med), fmt(cpu, 1),
      fx(ratio(cpu, base('nginx', cpuPerH2Req))), fx(ratio(cpu, base('caddy', cpuPerH2Req))), fx(ratio(cpu, med('https-ka', 'c50', proxy, cpuPerReq).med)),
      fmt(med('h2', v, proxy, h2Failed).med), protos,
      fmt(med('h2', v, proxy, (d) => d.otherOnProxyCorePct).med), fmt(med('h2', v, proxy, (d) => d.loadCorePct).med)]);
  }
  table(['Proxy', 'req/s', 'spread', '× nginx', '× Caddy', 'mean ms', 'max ms', 'proxy CPU %', 'CPU µs / req', '× nginx', '× Caddy',
    '× own HTTPS/1.1', 'failed', 'ALPN', 'others on proxy core %', 'load core %'], body);
  for (const r of pick('h2')) if (r.data.h2?.error) { p(`${NAMES[r.proxy]} run ${r.run}: ${r.data.h2.error}`); p(); }
}

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

if (has('apply')) {
  p(`### Applying ${fmt(meta.routes)} routes (idcs-edge only)`);
  p();
  p(`The routes case's big table (${fmt(meta.routes / 2)} exact proxies, ${fmt(meta.routes / 2)} templates with one VM each) as YAML and as JSON. `
    + '**Start**: from spawning `idcs-edge --config FILE` to the first 200 for the last exact route (polled about every 10 ms). '
    + '**Full reload**: the file replaced (rename) by the same table plus one proxy, until that proxy answers 200 (includes the file watcher\'s '
    + '150 ms debounce; "logged" is when the edge logged `config applied`). '
    + `**API change**: PUT /api/v1/proxies/api<i>.example.com (one new proxy) on that edge, ${meta.applyChanges} time(s), median; the answer and `
    + 'the time until the new host answers 200. Peak RSS is VmHWM from /proc, reset (clear_refs) before the reload and before the API changes, '
    + 'so each figure is the peak of that step (from the RSS it started at). CPU is the edge\'s own time.');
  p();
  const body = [];
  for (const [f, name] of [['yaml', 'YAML'], ['json', 'JSON']]) {
    const a = R.applyOf(f);
    if (!a) continue;
    const mb = (kb) => fmt(kb / 1024);
    body.push([name, fmt(a.configBytes / 1048576, 1), 'start to serving', fmt(a.start?.ms), '', fmt(a.start?.cpuMs), mb(a.start?.hwmKb), mb(a.start?.rssKb)]);
    body.push([name, '', 'full reload', fmt(a.reload?.ms), fmt(a.reload?.appliedLogMs), fmt(a.reload?.cpuMs), mb(a.reload?.hwmKb), '']);
    body.push([name, '', `API change (${(a.api ?? []).map((x) => x.status).join(', ')})`, fmt(a.apiServedMs), `answer ${fmt(a.apiAnswerMs)}`, fmt(a.apiCpuMs), mb(a.apiHwmKb), '']);
    if (a.reloadNote) p(`${name}: ${a.reloadNote}.`);
    for (const x of a.api ?? []) if (x.body) p(`${name} API change answered ${x.status}: \`${x.body.replace(/`/g, "'")}\``);
    if (a.peakResetWorks === false) p(`${name}: /proc/PID/clear_refs was refused, so the peaks after start are the process's lifetime peak.`);
  }
  table(['Format', 'config MB', 'step', 'ms', 'ms (logged / answer)', 'edge CPU ms', 'peak RSS MB', 'RSS MB'], body);
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
  const ch = R.fleetChanges();
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
    const procs = pick('workers', 'http-wauto', 'edge')[0]?.data.processes;
    p('HTTP and HTTPS keep-alive, 50 connections, wrk pinned to the load core. **1**: the main edge on the proxy core. '
      + '**2 (same core)**: `workers: 2` pinned to the proxy core, i.e. the cost or gain of the mode with no extra core. '
      + `**auto (both cores)**: \`workers: auto\` allowed on both cores, which makes ${procs ? `${procs - 1} workers (plus the primary)` : 'one worker per core'}; `
      + 'the second core is the one wrk and the origin run on, so its workers compete with the load generator. proxy CPU % can pass 100 there (two cores).');
    p();
    const body = [];
    const lines = [];
    for (const s of ['http', 'https']) {
      const one = med('workers', `${s}-w1`, 'edge', rps);
      const oneCpu = med('workers', `${s}-w1`, 'edge', cpuPerReq).med;
      for (const [w, label] of [['1', '1'], ['2', '2 (same core)'], ['auto', 'auto (both cores)']]) {
        const v = `${s}-w${w}`;
        const x = med('workers', v, 'edge', rps);
        if (!x.n) continue;
        const cpu = med('workers', v, 'edge', cpuPerReq).med;
        body.push([s.toUpperCase(), label, fmt(x.med), spread(x), fx(ratio(x.med, one.med)), fmt(med('workers', v, 'edge', p99).med, 2),
          fmt(med('workers', v, 'edge', (d) => d.cpuPct).med), fmt(cpu, 1), fx(ratio(cpu, oneCpu)), fmt(med('workers', v, 'edge', (d) => d.loadCorePct).med)]);
        if (w === 'auto') lines.push(`${s.toUpperCase()} ${fx(ratio(x.med, one.med))} of one worker's req/s at ${fx(ratio(cpu, oneCpu))} its CPU per request`);
      }
    }
    table(['Scheme', 'workers', 'req/s', 'spread', '× 1 worker', 'p99 ms', 'proxy CPU %', 'CPU µs / req', 'CPU × 1 worker', 'load core %'], body);
    p(`**Scaling on this machine** (${meta.nproc} cores): ${lines.join('; ') || 'not measured'}. With one core for the load generator and the origin there is `
      + 'no spare core for a second worker, so this machine cannot show scaling: `auto` gains only what wrk and the origin leave free on their core '
      + '(the load core % column), and "2 (same core)" shows the mode\'s own overhead. On a bigger host whose clients and VMs are elsewhere, expect '
      + 'keep-alive HTTP and HTTPS throughput to grow nearly linearly with workers up to the free cores: the workers share nothing on the request '
      + 'path (each has its own route table, upstream pools, TLS contexts and counters; increments reach the primary every 5 s), so CPU per request '
      + 'stays what one worker spends. Less than linear for new connections: node:cluster\'s primary accepts every connection and hands it to a '
      + 'worker (round-robin), so at high handshake or connection rates the primary\'s core becomes the limit; and TCP/UDP forwards stay on the '
      + 'primary (one core). See bench/README.md.');
    p();
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
    + 'uncapped route of a config where other proxies and a VM have access rules and caps, and to the main edge\'s route with its own access rule and '
    + 'never-reached cap, against the same edge config without any rules or caps.');
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
  for (const [v, what] of [['cost-http-none', 'HTTP, config without rules or caps'], ['cost-http-own', 'HTTP, the route\'s own access rule and a cap never reached (the main edge)'],
    ['cost-http-policies', 'HTTP, uncapped route, rules and caps elsewhere']]) {
    const x = med('cap', v, 'edge', rps);
    if (x.n) cost.push([what, `${fmt(x.med)} req/s`, spread(x), fmt(med('cap', v, 'edge', (d) => d.cpuPct).med), `${fmt(med('cap', v, 'edge', cpuPerReq).med, 1)} CPU µs / req`]);
  }
  table(['Path', 'rate', 'spread', 'proxy CPU %', 'cost'], cost);
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
  ['node (edge)', v.node], ['http-proxy-3', v['http-proxy-3']], ['nginx', v.nginx], ['HAProxy', v.haproxy], ['Caddy', v.caddy], ['wrk', v.wrk], ['h2load', v.h2load ?? '-'], ['iperf3', v.iperf3 ?? '-'], ['OpenSSL', v.openssl],
]);
// ------------------------------------------------------------------ profile: last, it explains what remains
const PROFILE_LABEL = { http: 'HTTP keep-alive', https: 'HTTPS keep-alive', handshake: 'New TLS handshakes', h2: 'HTTP/2 (h2load)' };
// The same load measured without the profiler in this run: the edge's CPU per request and Caddy's.
const PROFILE_REF = {
  http: ['http-ka', 'c50', cpuPerReq], https: ['https-ka', 'c50', cpuPerReq], handshake: ['handshake', `c${meta.handshakeConns}`, cpuPerReq],
  h2: ['h2', `c${meta.h2Conns}m${meta.h2Streams}`, cpuPerH2Req],
};
/** Groups cpuprofile.mjs areas into a few buckets (shares of busy samples, %). */
function buckets(areas) {
  const b = { own: 0, npm: 0, http: 0, tls: 0, net: 0, io: 0, gc: 0, other: 0 };
  for (const a of areas) {
    const k = a.name.startsWith('idcs-edge src/') ? 'own' : a.name.startsWith('npm ') ? 'npm' : a.name.startsWith('node http') ? 'http'
      : a.name.startsWith('node tls') ? 'tls' : a.name.startsWith('node net') ? 'net' : a.name.startsWith('socket I/O') ? 'io'
        : a.name === '(garbage collector)' ? 'gc' : 'other';
    b[k] += a.pct;
  }
  return b;
}
if (has('profile')) {
  p('## Where idcs-edge spends its CPU (`node --cpu-prof`): what remains');
  p();
  p('One profiled run per load (50 connections; h2: the h2 case\'s clients and streams), self time as a share of the busy (non-idle) '
    + 'samples while the load ran (start-up excluded). "µs / req" is the edge\'s CPU per request measured without the profiler in this '
    + 'run (n/a when that case did not run), so share × µs/req is roughly where each microsecond goes. The .cpuprofile files are kept in '
    + 'bench/.work/prof/ (open them in Chrome DevTools). V8 counts time in libuv outside JavaScript (accept, close, epoll) as idle; '
    + '"socket I/O" is the C++ write path, which for HTTPS includes encryption.');
  p();
  const sum = [];
  for (const r of pick('profile')) {
    if (r.data.error) continue;
    const [cs, v, f] = PROFILE_REF[r.variant] ?? [];
    const us = cs ? med(cs, v, 'edge', f).med : NaN;
    const caddy = cs ? med(cs, v, 'caddy', f).med : NaN;
    const bk = buckets(r.data.areas);
    const ownFiles = r.data.areas.filter((a) => a.name.startsWith('idcs-edge src/')).slice(0, 3).map((a) => `${a.name.slice('idcs-edge '.length)} ${fmt(a.pct, 1)}`).join(', ');
    sum.push([PROFILE_LABEL[r.variant] ?? r.variant, fmt(us, 1), fmt(caddy, 1), ...['own', 'npm', 'http', 'tls', 'net', 'io', 'gc', 'other'].map((k) => fmt(bk[k], 1)),
      r.data.top.slice(0, 3).map((t) => `\`${t.fn}\` ${fmt(t.pct, 1)}`).join(', '), ownFiles || '–']);
  }
  if (sum.length) {
    table(['Load', 'edge µs / req', 'Caddy µs / req', 'own src/ %', 'npm packages %', 'node http %', 'node tls/crypto %', 'node net/streams %', 'socket I/O %', 'GC %',
      'native / other %', 'top 3 functions (self %)', 'top own files (%)'], sum);
  }
  for (const r of pick('profile')) {
    p(`### ${PROFILE_LABEL[r.variant] ?? r.variant}`);
    p();
    if (r.data.error) { p(r.data.error); p(); continue; }
    p(`Busy ${fmt(r.data.busyPct, 0)} % of the ${fmt(r.data.windowMs / 1000, 1)} s window.`);
    p();
    table(['Area', '% of samples'], r.data.areas.slice(0, 14).map((a) => [a.name, fmt(a.pct, 1)]));
    table(['Top functions (self)', 'where', '%'], r.data.top.slice(0, 12).map((t) => [`\`${t.fn}\``, t.where, fmt(t.pct, 1)]));
  }
}

process.stdout.write(`${out.join('\n')}\n`);
