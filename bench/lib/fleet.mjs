/**
 * The `fleet` case: how long a route change made through one edge's admin API takes to be served by every
 * edge of a three-edge fleet on one Redis (config.source: redis).
 *
 *   node fleet.mjs configs                 writes edge-fleet-{a,b,c}.yaml in $BENCH_WORK (ports BASE+73..79)
 *   node fleet.mjs measure N               N changes through edge a; prints one JSON line
 *
 * Each change adds the proxy c<i>.example.com (to the origin nginx) through edge a's API, and removes the
 * one before it; from the moment the PUT is sent, each edge is asked for c<i>.example.com over a
 * keep-alive connection, one request at a time about a millisecond apart, until it answers 200 (404 before). The time to the first
 * 200 is that edge's; the largest of the three is the change's time to reach every edge. Requests to the
 * edges are bounded: each change gives up after 10 s.
 */
import http from 'node:http';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const env = (k) => {
  const v = process.env[k];
  if (v === undefined || v === '') throw new Error(`${k} is not set (run through bench/run.sh)`);
  return v;
};
const W = env('BENCH_WORK');
const BASE = Number(env('BENCH_PORT_BASE'));
const ORIGIN = Number(env('BENCH_ORIGIN_EDGE'));
export const REDIS_PORT = BASE + 73;
const EDGES = ['a', 'b', 'c'].map((name, i) => ({ name, http: BASE + 74 + i, admin: BASE + 77 + i, dir: join(W, `fleet-${name}`) }));

function configs() {
  for (const e of EDGES) {
    mkdirSync(e.dir, { recursive: true });
    const doc = {
      listen: { http: e.http, https: 0, host: '127.0.0.1' },
      certs: { dir: join(e.dir, 'certs') }, data: { dir: join(e.dir, 'data') },
      log: { file: join(W, 'logs', `fleet-${e.name}.log`), level: 'warn' },
      admin: { listen: `127.0.0.1:${e.admin}`, tokenFile: join(e.dir, 'admin.token') },
      storage: { type: 'redis', url: `redis://127.0.0.1:${REDIS_PORT}/0`, keyPrefix: 'bench-fleet:' },
      config: { source: 'redis' },
    };
    const file = join(W, `edge-fleet-${e.name}.yaml`);
    writeFileSync(`${file}.tmp`, JSON.stringify(doc, null, 2));
    renameSync(`${file}.tmp`, file);
  }
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

function call(port, method, path, { host = `127.0.0.1:${port}`, body, token } = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request({ host: '127.0.0.1', port, method, path, agent, headers: { host,
      ...(token ? { authorization: `Bearer ${token}` } : {}), ...(data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {}) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.setTimeout(5000, () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', reject);
    req.end(data);
  });
}

const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

/** Asks `edge` for `host` until it answers 200; resolves the milliseconds since t0 (null after the deadline). */
async function firstServed(edge, host, t0, deadline) {
  while (Date.now() < deadline) {
    const r = await call(edge.http, 'GET', '/', { host }).catch(() => ({ status: 0 }));
    if (r.status === 200) return ms(t0);
    // A millisecond between asks: the edges share one core, and asking nonstop would slow what is measured.
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  return null;
}

async function measure(n) {
  const token = readFileSync(join(EDGES[0].dir, 'admin.token'), 'utf8').trim();
  const changes = [];
  let before = null;
  // One change first, not counted: the first write creates the fleet document and warms every path.
  for (let i = 0; i <= n; i++) {
    const host = `c${i}.example.com`;
    const t0 = process.hrtime.bigint();
    const deadline = Date.now() + 10_000;
    const write = call(EDGES[0].admin, 'PUT', `/api/v1/proxies/${host}`, { token, body: { target: '127.0.0.1', targetPort: ORIGIN } })
      .then((r) => ({ status: r.status, ms: ms(t0) }));
    const served = await Promise.all(EDGES.map((e) => firstServed(e, host, t0, deadline)));
    const w = await write;
    if (w.status !== 201) throw new Error(`PUT ${host} through edge a answered ${w.status}`);
    if (i > 0) changes.push({ writeMs: w.ms, perEdge: Object.fromEntries(EDGES.map((e, k) => [e.name, served[k]])) });
    if (before) await call(EDGES[0].admin, 'DELETE', `/api/v1/proxies/${before}`, { token });
    before = host;
  }
  agent.destroy();
  return { changes };
}

const [cmd, arg] = process.argv.slice(2);
if (cmd === 'configs') configs();
else if (cmd === 'measure') console.log(JSON.stringify(await measure(Number(arg ?? 20))));
else if (cmd === 'ports') console.log([REDIS_PORT, ...EDGES.flatMap((e) => [e.http, e.admin])].join(' '));
else throw new Error('usage: fleet.mjs configs | measure N | ports');
