/**
 * `workers: 2`: one scrape of the primary returns the sum over both workers, the traffic API and
 * `idcs-edge traffic` count every worker's bytes, the dashboard's activity merges the workers' failures,
 * and the increments of a worker that stops are written before the edge exits.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { adminClientOf } from '../helpers/admin.ts';
import { runCli, spawnEdge } from '../helpers/cli.ts';
import { exchange, parseMetrics, sample } from '../helpers/metrics.ts';
import { deadPort, refusedPort, startBackend, waitFor } from '../helpers/net.ts';

describe('metrics and traffic in workers mode', () => {
  it('sum over the workers, and keep a stopping worker\'s last bytes', async (t) => {
    const b = await startBackend(t, 'web1');
    const dir = mkdtempSync(join(tmpdir(), 'edge-metrics-workers-'));
    const file = join(dir, 'edge.yaml');
    const logFile = join(dir, 'edge.log');
    const [http, adminPort, dead] = [await refusedPort(), await refusedPort(), await deadPort(t)];
    writeFileSync(file, stringify({
      listen: { http, https: 0, host: '127.0.0.1' }, workers: 2, certs: { dir: join(dir, 'certs') }, data: { dir: join(dir, 'data') },
      log: { file: logFile, level: 'info' }, shutdown: { graceMs: 2000 }, admin: { listen: `127.0.0.1:${adminPort}` },
      vms: [{ name: 'web1', owner: 'user1', ip: '127.0.0.1', port: b.port }],
      proxies: [{ domain: 'a.example.com', target: '127.0.0.1', targetPort: b.port }, { domain: 'dead.example.com', target: '127.0.0.2', targetPort: dead }],
    }));
    const edge = spawnEdge(t, file);
    const url = `http://127.0.0.1:${adminPort}`;
    await waitFor('the edge to be ready', async () => (await fetch(`${url}/readyz`)).status === 200, 30_000);
    const api = adminClientOf({ url, tokenFile: join(dir, 'admin.token') });

    // Fresh connections are spread over the workers; keep going until both have answered.
    const sent = { requests: 0, in: 0, out: 0 };
    const pids = () => new Set(readFileSync(logFile, 'utf8').split('\n').filter((l) => l.includes('"msg":"access"')).map((l) => JSON.parse(l).pid));
    await waitFor('both workers to answer', async () => {
      const x = await exchange(http, 'a.example.com', [{ path: '/', method: 'POST', body: 'z'.repeat(777) }]);
      assert.deepEqual(x.statuses, [200]);
      sent.requests++;
      sent.in += x.written;
      sent.out += x.read;
      return sent.requests >= 4 && pids().size === 2;
    }, 20_000);
    for (let i = 0; i < 2; i++) assert.deepEqual((await exchange(http, 'dead.example.com', [{ path: `/f${i}` }])).statuses, [502]);

    const m = parseMetrics(String((await api.call('GET', '/metrics')).body));
    assert.equal(sample(m, 'idcs_edge_http_requests_total', { proxy: 'a.example.com', vm: 'user1/web1', status_class: '2xx' }), sent.requests);
    assert.equal(sample(m, 'idcs_edge_http_bytes_total', { proxy: 'a.example.com', vm: 'user1/web1', direction: 'in' }), sent.in);
    assert.equal(sample(m, 'idcs_edge_http_bytes_total', { proxy: 'a.example.com', vm: 'user1/web1', direction: 'out' }), sent.out);
    assert.equal(sample(m, 'idcs_edge_upstream_errors_total', { proxy: 'dead.example.com', code: 'EDGE_ERR_UPSTREAM_REFUSED' }), 2);
    assert.equal(sample(m, 'idcs_edge_http_request_duration_seconds_count', { proxy: 'a.example.com' }), sent.requests);
    assert.equal(sample(m, 'idcs_edge_config_applies_total', { source: 'start', result: 'applied' }), 1, 'counted by the primary only');

    const traffic = (await api.call('GET', '/api/v1/traffic?vm=user1/web1&range=24h')).body;
    assert.deepEqual(traffic.totals, { in: sent.in, out: sent.out });
    const activity = (await api.call('GET', '/api/v1/activity')).body;
    assert.equal(activity.proxies['a.example.com'].requests, sent.requests);
    assert.deepEqual(activity.proxies['dead.example.com'].failures.map((f: { path: string }) => f.path).sort(), ['/f0', '/f1'], 'failures of both workers');
    const viaApi = await runCli(['traffic', '--config', file]);
    assert.match(viaApi.stdout, new RegExp(`from the running edge at http://127\\.0\\.0\\.1:${adminPort}\\n[^]*user1/web1\\s.*\\s${sent.in + sent.out}\\n`));

    // Bytes recorded after the last read, then SIGTERM at once: the workers hand them over as they stop.
    const last = await exchange(http, 'a.example.com', [{ path: '/last' }]);
    edge.child.kill('SIGTERM');
    assert.equal(await edge.exited, 0, edge.output());
    const fromFile = await runCli(['traffic', '--config', file]);
    assert.match(fromFile.stdout, new RegExp(`\\nuser1/web1\\s.*\\s${sent.in + sent.out + last.written + last.read}\\n`), fromFile.stdout);
  });
});
