/**
 * `workers: 2`: the primary serves the admin API, and a write goes through its two-phase apply, so every
 * worker serves the change (and a write any worker would refuse is refused).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { adminClientOf } from '../helpers/admin.ts';
import { spawnEdge } from '../helpers/cli.ts';
import { refusedPort, request, startBackend, waitFor } from '../helpers/net.ts';

describe('admin API in workers mode', () => {
  it('is served by the primary, and every worker applies its writes', async (t) => {
    const b = await startBackend(t, 'b');
    const dir = mkdtempSync(join(tmpdir(), 'edge-admin-workers-'));
    const file = join(dir, 'edge.yaml');
    const logFile = join(dir, 'edge.log');
    const [http, adminPort] = [await refusedPort(), await refusedPort()];
    writeFileSync(file, stringify({
      listen: { http, https: 0, host: '127.0.0.1' }, workers: 2, certs: { dir: join(dir, 'certs') }, data: { dir: join(dir, 'data') },
      log: { file: logFile, level: 'info' }, shutdown: { graceMs: 2000 }, admin: { listen: `127.0.0.1:${adminPort}` },
      proxies: [{ domain: 'a.example.com', target: '127.0.0.1', targetPort: b.port }],
    }));
    const edge = spawnEdge(t, file);
    const admin = { url: `http://127.0.0.1:${adminPort}`, tokenFile: join(dir, 'admin.token') };
    await waitFor('the admin API to be ready', async () => (await fetch(`${admin.url}/readyz`)).status === 200, 30_000);
    const api = adminClientOf(admin);
    const status = await api.call('GET', '/api/v1/status');
    assert.deepEqual([status.body.mode, status.body.workers], ['workers', 2]);
    const listening = readFileSync(logFile, 'utf8').split('\n').filter((l) => l.includes('"admin API listening"')).map((l) => JSON.parse(l).pid);
    assert.deepEqual(listening, [edge.child.pid], 'the primary listens, the workers do not');

    const put = await api.call('PUT', '/api/v1/proxies/new.example.com', { json: { target: '127.0.0.1', targetPort: b.port } });
    assert.equal(put.status, 201, JSON.stringify(put.body));
    // Fresh connections are spread over both workers: all of them must serve the new proxy.
    await waitFor('every worker to serve the new proxy', async () => {
      const codes = await Promise.all(Array.from({ length: 8 }, () => request(http, 'new.example.com').then((r) => r.status)));
      return codes.every((c) => c === 200);
    }, 10_000);
    const pids = new Set(readFileSync(logFile, 'utf8').split('\n').filter((l) => l.includes('"msg":"access"') && l.includes('new.example.com'))
      .map((l) => JSON.parse(l).pid));
    assert.equal(pids.size, 2, 'both workers answered for it');
    assert.deepEqual(parse(readFileSync(file, 'utf8')).proxies.map((p: { domain: string }) => p.domain), ['a.example.com', 'new.example.com']);

    // Refused by the schema: nothing reaches the workers.
    const bad = await api.call('PUT', '/api/v1/proxies/bad.example.com', { json: { target: '127.0.0.1', targetPort: 0 } });
    assert.equal(bad.status, 400);
    assert.equal((await request(http, 'bad.example.com')).status, 404);

    edge.child.kill('SIGTERM');
    assert.equal(await edge.exited, 0, edge.output());
  });
});
