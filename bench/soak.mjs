/**
 * Soak: proves that nothing grows. Runs the real edge (`src/cli.ts`, one process) for SOAK_S seconds
 * (default 600) against VM-like backends this script starts, all on 127.0.0.1, and drives a bounded mix at
 * once: HTTP keep-alive and one-connection-per-request traffic, HTTPS keep-alive and new TLS handshakes,
 * uploads, WebSocket sessions (echo then close), and clients that abort requests, uploads and WebSockets
 * midway. Every second the config file is rewritten with the upstreams moved between backends and a route
 * added or removed. Reads the edge's RSS, heap after a full GC (bench/lib/soak-probe.mjs), open file
 * descriptors and sockets every 5 s and reports the medians of the first 30 s after warm-up against the
 * last 30 s, plus what is left once the load stops; and every 5xx that was not expected (only the route
 * pointing at a closed port may answer 502).
 *
 *   npm run soak                 # 10 minutes
 *   SOAK_S=120 npm run soak      # shorter; SOAK_WARMUP_S (default 60, at most a tenth of SOAK_S)
 *
 * Writes bench/results/soak-latest.md and prints it.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import YAML from 'yaml';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DURATION_S = Number(process.env.SOAK_S ?? 600);
const WARMUP_S = Math.min(Number(process.env.SOAK_WARMUP_S ?? 60), Math.max(5, Math.floor(DURATION_S / 10)));
const SAMPLE_MS = 5000;
const WINDOW_MS = 30_000;
const BACKENDS = 4;
const ROUTES = 8;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const freePort = () => new Promise((r) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => r(port)); }); });

// --- backends: HTTP (with /slow and uploads) and a WebSocket echo ----------------------------------------
async function startBackend(name) {
  const server = http.createServer((req, res) => {
    const ms = Number(new URL(req.url, 'http://x').searchParams.get('ms') ?? 0);
    let n = 0;
    req.on('data', (c) => { n += c.length; });
    req.on('end', () => setTimeout(() => {
      if (res.destroyed) return;
      const body = JSON.stringify({ backend: name, url: req.url, received: n });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    }, ms));
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (d) => ws.send(`${name}:${d}`)));
  wss.on('error', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { name, port: server.address().port, close: () => { for (const c of wss.clients) c.terminate(); server.closeAllConnections(); server.close(); } };
}

// --- the edge -----------------------------------------------------------------------------------------------
function configDoc(ports, backends, downPort, tick) {
  const proxies = [];
  for (let i = 0; i < ROUTES; i++) {
    // Every second each route moves to another backend: pools are made and released, WebSockets re-homed.
    proxies.push({ domain: `r${i}.example.com`, target: '127.0.0.1', targetPort: backends[(i + tick) % backends.length].port,
      ssl: i % 2 === 0, websocket: true });
  }
  proxies.push({ domain: 'down.example.com', target: '127.0.0.1', targetPort: downPort });
  // One of three extra names comes and goes (its self-signed certificate is made once, then reused from the store).
  proxies.push({ domain: `tmp${tick % 3}.example.com`, target: '127.0.0.1', targetPort: backends[0].port, ssl: true });
  return { listen: { http: ports.http, https: ports.https, host: '127.0.0.1' }, certs: { dir: ports.certs },
    log: { file: ports.log, level: 'info' }, shutdown: { graceMs: 5000 }, proxies };
}

function writeConfig(file, doc) {
  writeFileSync(`${file}.tmp`, YAML.stringify(doc));
  renameSync(`${file}.tmp`, file);
}

function startEdge(configFile) {
  const child = spawn(process.execPath, ['--disable-sigusr1', '--expose-gc', '--import', join(ROOT, 'bench/lib/soak-probe.mjs'),
    join(ROOT, 'src/cli.ts'), '--config', configFile], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  let nextId = 1;
  const waiting = new Map();
  child.on('message', (m) => { if (m?.type === 'soak-probe') { waiting.get(m.id)?.(m); waiting.delete(m.id); } });
  const probe = () => new Promise((r) => { const id = nextId++; waiting.set(id, r); child.send({ type: 'soak-probe', id }); });
  return { child, probe, stderr: () => stderr };
}

function descriptors(pid) {
  let fds = 0;
  let sockets = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    fds++;
    try { if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) sockets++; } catch { /* closed meanwhile */ }
  }
  return { fds, sockets };
}

// --- load ------------------------------------------------------------------------------------------------
const stats = { requests: 0, byStatus: new Map(), unexpected5xx: [], clientErrors: new Map(), aborted: 0, wsSessions: 0, wsFailed: new Map(), wsAborted: 0, applies: 0 };
const wsFail = (why) => stats.wsFailed.set(why, (stats.wsFailed.get(why) ?? 0) + 1);
const countStatus = (s) => stats.byStatus.set(s, (stats.byStatus.get(s) ?? 0) + 1);
const countError = (e) => { const k = e.code ?? e.message; stats.clientErrors.set(k, (stats.clientErrors.get(k) ?? 0) + 1); };

function record(host, path, res, body) {
  stats.requests++;
  countStatus(res.statusCode);
  const expected = host === 'down.example.com' && res.statusCode === 502;
  if (res.statusCode >= 500 && !expected) {
    stats.unexpected5xx.push({ at: new Date().toISOString(), host, path, status: res.statusCode, code: res.headers['x-edge-error'] ?? '', body: body.slice(0, 200) });
  }
}

function once1(ports, { host, tls = false, agent, path = '/', method = 'GET', body, abortAfterMs }) {
  return new Promise((resolveReq) => {
    const mod = tls ? https : http;
    const req = mod.request({ host: '127.0.0.1', port: tls ? ports.https : ports.http, path, method, agent,
      headers: { host }, ...(tls ? { servername: host, rejectUnauthorized: false } : {}) }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => { record(host, path, res, Buffer.concat(chunks).toString()); resolveReq(); });
      res.on('error', () => resolveReq());
    });
    req.setTimeout(30_000, () => req.destroy(new Error('client timeout (30 s)')));
    let aborted = false;
    if (abortAfterMs !== undefined) setTimeout(() => { aborted = true; stats.aborted++; req.destroy(); }, abortAfterMs);
    req.on('error', (e) => { if (!aborted) countError(e); resolveReq(); });
    if (body && abortAfterMs !== undefined) req.write(body.subarray(0, body.length >> 1)); // an upload cut midway
    else req.end(body);
  });
}

function wsSession(ports, host, tls, abort) {
  return new Promise((resolveWs) => {
    const ws = new WebSocket(`${tls ? 'wss' : 'ws'}://127.0.0.1:${tls ? ports.https : ports.http}/`, {
      headers: { host }, ...(tls ? { servername: host, rejectUnauthorized: false } : {}), handshakeTimeout: 10_000 });
    let n = 0;
    const done = () => { ws.removeAllListeners(); ws.on('error', () => {}); resolveWs(); };
    ws.on('open', () => {
      if (abort) { stats.wsAborted++; ws.send('x'); ws.terminate(); done(); return; }
      ws.send(`m${n}`);
    });
    ws.on('message', () => {
      if (++n < 5) { ws.send(`m${n}`); return; }
      stats.wsSessions++;
      ws.close(1000);
    });
    // 1001 before the fifth echo is a reload moving the route to another backend: the edge says so.
    ws.on('close', (code) => { if (n < 5 && code !== 1001) wsFail(`closed ${code} after ${n} echoes`); done(); });
    ws.on('unexpected-response', (_q, res) => { countStatus(res.statusCode); wsFail(`upgrade answered ${res.statusCode}`); ws.terminate(); done(); });
    ws.on('error', (e) => { wsFail(e.code ?? e.message); done(); });
  });
}

/** Runs `fn` every `everyMs` with at most `max` in flight, until `until`. */
async function paced(until, everyMs, max, fn) {
  let inFlight = 0;
  const all = new Set();
  while (Date.now() < until) {
    if (inFlight < max) {
      inFlight++;
      const p = fn().finally(() => { inFlight--; all.delete(p); });
      all.add(p);
    }
    await sleep(everyMs);
  }
  await Promise.allSettled([...all]);
}

/** Odd routes are plain HTTP, even ones HTTPS-only (plain HTTP to them is a 308, WebSockets a 403). */
const httpRoute = (i) => `r${(2 * i + 1) % ROUTES}.example.com`;
const tlsRoute = (i) => `r${(2 * i) % ROUTES}.example.com`;
let counter = 0;

function load(ports, until) {
  const httpKeep = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const httpsKeep = new https.Agent({ keepAlive: true, maxSockets: 8 });
  const upload = Buffer.alloc(64 * 1024, 7);
  const loops = [
    // HTTP keep-alive (~400 req/s) and one connection per request (~50/s).
    paced(until, 2.5, 16, () => once1(ports, { host: httpRoute(counter++), agent: httpKeep, path: `/k${counter % 97}` })),
    paced(until, 20, 8, () => once1(ports, { host: httpRoute(counter++), agent: false, path: '/churn' })),
    // HTTPS keep-alive (~100 req/s) and new TLS handshakes (~20/s); both on the ssl routes.
    paced(until, 10, 8, () => once1(ports, { host: tlsRoute(counter++), tls: true, agent: httpsKeep, path: '/tls' })),
    paced(until, 50, 4, () => once1(ports, { host: tlsRoute(counter++), tls: true, agent: false, path: '/handshake' })),
    // Uploads, whole (~10/s) and cut midway (~5/s); slow answers abandoned by the client (~10/s).
    paced(until, 100, 4, () => once1(ports, { host: httpRoute(counter++), agent: false, method: 'POST', path: '/upload', body: upload })),
    paced(until, 200, 4, () => once1(ports, { host: tlsRoute(counter++), tls: true, agent: false, method: 'POST', path: '/upload-cut', body: upload, abortAfterMs: 20 })),
    paced(until, 100, 8, () => once1(ports, { host: httpRoute(counter++), agent: false, path: '/slow?ms=400', abortAfterMs: 50 })),
    // The route to a closed port: 502 expected. A removed name: 404 expected.
    paced(until, 200, 2, () => once1(ports, { host: 'down.example.com', agent: false, path: '/down' })),
    paced(until, 200, 2, () => once1(ports, { host: `tmp${counter++ % 3}.example.com`, tls: true, agent: false, path: '/tmp' })),
    // WebSocket sessions over ws and wss (~20/s), some cut right after opening (~5/s).
    paced(until, 50, 10, () => { const i = counter++; return i % 2 ? wsSession(ports, httpRoute(i), false, false) : wsSession(ports, tlsRoute(i), true, false); }),
    paced(until, 200, 4, () => wsSession(ports, httpRoute(counter++), false, true)),
  ];
  return Promise.all(loops).finally(() => { httpKeep.destroy(); httpsKeep.destroy(); });
}

// --- measurements and report -----------------------------------------------------------------------------
async function sample(edge) {
  const m = await edge.probe();
  const status = readFileSync(`/proc/${edge.child.pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { at: Date.now(), rss: m.rss, heap: m.heapUsed, heapTotal: m.heapTotal, external: m.external, rssAnon: kb('RssAnon'), rssFile: kb('RssFile'), ...descriptors(edge.child.pid) };
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)] : NaN; };
const mib = (b) => `${(b / 1048576).toFixed(1)} MiB`;
const pct = (a, b) => `${b >= a ? '+' : ''}${((b - a) / a * 100).toFixed(1)} %`;

function report({ started, samples, warmEnd, idle, afterLoad, config, applied, refused }) {
  const first = samples.filter((s) => s.at >= warmEnd && s.at < warmEnd + WINDOW_MS);
  const last = samples.filter((s) => s.at >= samples.at(-1).at - WINDOW_MS);
  const row = (label, key, fmt = String) => {
    const a = median(first.map((s) => s[key]));
    const b = median(last.map((s) => s[key]));
    const max = Math.max(...samples.filter((s) => s.at >= warmEnd).map((s) => s[key]));
    return `| ${label} | ${fmt(idle[key])} | ${fmt(a)} | ${fmt(b)} | ${pct(a, b)} | ${fmt(max)} | ${fmt(afterLoad[key])} |`;
  };
  const statuses = [...stats.byStatus].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}: ${n}`).join(', ');
  const errors = [...stats.clientErrors].map(([k, n]) => `${k}: ${n}`).join(', ') || 'none';
  const lines = [
    `# Soak: ${new Date(started).toISOString()}`,
    '',
    `Duration ${Math.round((Date.now() - started) / 1000)} s of load (SOAK_S=${DURATION_S}, warm-up ${WARMUP_S} s), config re-applied every second ` +
      `(${applied} applied, ${refused} refused), ${BACKENDS} backends, ${ROUTES} moving routes + one to a closed port + one that comes and goes.`,
    '',
    `| Edge process | idle before load | start (median, 30 s after warm-up) | end (median, last 30 s) | growth | max after warm-up | idle after load (5 s) |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    row('RSS', 'rss', mib),
    row('heap used (after full GC)', 'heap', mib),
    row('V8 heap reserved (heapTotal)', 'heapTotal', mib),
    row('external (buffers, TLS)', 'external', mib),
    row('open file descriptors', 'fds'),
    row('sockets', 'sockets'),
    '',
    `Requests answered: ${stats.requests} (${statuses}); client aborts on purpose: ${stats.aborted}; ` +
      `WebSocket sessions completed: ${stats.wsSessions}, cut on purpose: ${stats.wsAborted}, failed: ${[...stats.wsFailed].map(([k, n]) => `${k}: ${n}`).join(', ') || 'none'}; ` +
      `other client errors: ${errors}.`,
    '',
    `**Unexpected 5xx: ${stats.unexpected5xx.length}**${stats.unexpected5xx.length ? '' : ' (only `down.example.com` may answer 502)'}`,
    ...stats.unexpected5xx.slice(0, 50).map((u) => `- ${u.at} ${u.host}${u.path}: ${u.status} ${u.code} ${u.body.replace(/\s+/g, ' ')}`),
    '',
    `Machine: ${cpus()[0]?.model ?? '?'} (${cpus().length} CPUs), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}, ` +
      `load average at end ${loadavg().map((l) => l.toFixed(2)).join(' ')}. The soak's clients and backends share the machine with the edge.`,
    `Config: ${config}`,
  ];
  return lines.join('\n');
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'idcs-soak-'));
  const backends = await Promise.all(Array.from({ length: BACKENDS }, (_, i) => startBackend(`b${i}`)));
  const ports = { http: await freePort(), https: await freePort(), certs: join(dir, 'certs'), log: join(dir, 'logs', 'http-proxy.log') };
  const downPort = await freePort();
  const configFile = join(dir, 'edge.yaml');
  writeConfig(configFile, configDoc(ports, backends, downPort, 0));
  const edge = startEdge(configFile);
  const cleanup = () => { try { edge.child.kill('SIGKILL'); } catch { /* gone */ } for (const b of backends) b.close(); rmSync(dir, { recursive: true, force: true }); };
  process.on('SIGINT', () => { cleanup(); process.exit(130); });
  try {
    for (let i = 0; ; i++) {
      if (edge.child.exitCode !== null) throw new Error(`the edge exited: ${edge.stderr()}`);
      const ok = await new Promise((r) => { const q = http.get({ host: '127.0.0.1', port: ports.http, headers: { host: 'r1.example.com' } }, (res) => { res.resume(); r(true); }); q.on('error', () => r(false)); });
      if (ok) break;
      if (i > 200) throw new Error('the edge did not start within 20 s');
      await sleep(100);
    }
    const idle = await sample(edge);
    const started = Date.now();
    const until = started + DURATION_S * 1000;
    const warmEnd = started + WARMUP_S * 1000;
    console.error(`soak: ${DURATION_S} s (warm-up ${WARMUP_S} s) against the edge pid ${edge.child.pid}; writing to ${dir}`);
    const loadDone = load(ports, until);
    // Re-apply every second with the upstreams moved.
    const reapply = (async () => { for (let tick = 1; Date.now() < until; tick++) { writeConfig(configFile, configDoc(ports, backends, downPort, tick)); stats.applies++; await sleep(1000); } })();
    const samples = [];
    while (Date.now() < until) {
      samples.push(await sample(edge));
      const s = samples.at(-1);
      console.error(`  ${Math.round((s.at - started) / 1000)} s: rss ${mib(s.rss)} (anon ${mib(s.rssAnon)}, file ${mib(s.rssFile)}), heap ${mib(s.heap)} of ${mib(s.heapTotal)}, external ${mib(s.external)}, fds ${s.fds}, sockets ${s.sockets}, requests ${stats.requests}, unexpected 5xx ${stats.unexpected5xx.length}`);
      await sleep(SAMPLE_MS);
    }
    await Promise.all([loadDone, reapply]);
    await sleep(5000);
    const afterLoad = await sample(edge);
    const log = readFileSync(ports.log, 'utf8');
    const applied = (log.match(/"msg":"config applied"/g) ?? []).length;
    const refused = (log.match(/"msg":"config not applied/g) ?? []).length;
    edge.child.kill('SIGTERM');
    const [code] = await once(edge.child, 'exit');
    const text = `${report({ started, samples, warmEnd, idle, afterLoad, config: `edge exit code after SIGTERM: ${code}`, applied, refused })}\n`;
    mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
    writeFileSync(join(ROOT, 'bench/results/soak-latest.md'), text);
    console.log(text);
  } finally {
    cleanup();
  }
}

await main();
process.exit(0);
