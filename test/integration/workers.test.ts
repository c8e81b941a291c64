/**
 * `workers: 2`: several processes serve one edge. Requests are spread over the workers, a config change
 * reaches all of them, certificates are shared, and SIGTERM stops the whole group cleanly.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { spawnEdge } from '../helpers/cli.ts';
import { peerCertificate, refusedPort, request, startBackend, waitFor } from '../helpers/net.ts';

describe('workers mode', () => {
  it('spreads requests over the workers, reloads them all, and stops them on SIGTERM', async (t) => {
    const b = await startBackend(t, 'b');
    const dir = mkdtempSync(join(tmpdir(), 'edge-workers-'));
    const file = join(dir, 'edge.yaml');
    const logFile = join(dir, 'edge.log');
    const http = await refusedPort();
    const https = await refusedPort();
    const write = (proxies: unknown[]) => {
      writeFileSync(`${file}.tmp`, stringify({
        listen: { http, https, host: '127.0.0.1' }, workers: 2, certs: { dir: join(dir, 'certs') }, data: { dir: join(dir, 'data') },
        log: { file: logFile, level: 'info' }, shutdown: { graceMs: 2000 }, proxies,
      }));
      renameSync(`${file}.tmp`, file);
    };
    const a = { domain: 'a.example.com', target: '127.0.0.1', targetPort: b.port, ssl: true };
    write([a]);
    const edge = spawnEdge(t, file);
    await waitFor('the workers to serve', async () => (await request(https, 'a.example.com', { https: true })).status === 200, 30_000);
    const cert = await peerCertificate(https, 'a.example.com');

    // Fresh connections are spread over the workers; each access line carries its process id.
    const pidsSeen = await waitFor('both workers to answer', async () => {
      await Promise.all(Array.from({ length: 10 }, () => request(https, 'a.example.com', { https: true })));
      const pids = new Set(readFileSync(logFile, 'utf8').split('\n').filter((l) => l.includes('"msg":"access"')).map((l) => JSON.parse(l).pid));
      return pids.size >= 2 ? pids : null;
    }, 20_000);
    assert.equal(pidsSeen.size, 2);
    for (let i = 0; i < 6; i++) {
      assert.equal((await peerCertificate(https, 'a.example.com')).fingerprint256, cert.fingerprint256, 'every worker serves the same certificate');
    }

    write([a, { domain: 'new.example.com', target: '127.0.0.1', targetPort: b.port }]);
    await waitFor('every worker to serve the new proxy', async () => {
      const codes = await Promise.all(Array.from({ length: 8 }, () => request(http, 'new.example.com').then((r) => r.status)));
      return codes.every((c) => c === 200);
    }, 20_000);

    // A config the workers would refuse (an upload that does not exist) is refused by the whole edge.
    write([a, { domain: 'new.example.com', target: '127.0.0.1', targetPort: b.port },
      { domain: 'bad.example.com', target: '127.0.0.1', targetPort: b.port, ssl: true, certSource: 'upload', certFile: join(dir, 'none.pem'), keyFile: join(dir, 'none.key') }]);
    await waitFor('the refusal in the log', () => readFileSync(logFile, 'utf8').includes('config not applied'), 20_000);
    const codes = await Promise.all(Array.from({ length: 8 }, () => request(http, 'bad.example.com').then((r) => r.status)));
    assert.deepEqual([...new Set(codes)], [404], 'no worker serves a refused config');

    // Workers never read the config file: with the file gone, a worker that dies is replaced by one that
    // serves the primary's running config.
    rmSync(file);
    const victim = [...pidsSeen][0] as number;
    process.kill(victim, 'SIGKILL');
    await waitFor('a replacement worker to serve the running config', async () => {
      const pids = new Set(readFileSync(logFile, 'utf8').split('\n').filter((l) => l.includes('"msg":"access"') && l.includes('new.example.com'))
        .map((l) => JSON.parse(l).pid));
      // A connection handed to the worker as it was killed fails; the next ones reach the others.
      await Promise.all(Array.from({ length: 6 }, () => request(http, 'new.example.com', { timeoutMs: 2000 }).catch(() => null)));
      return [...pids].some((p) => !pidsSeen.has(p));
    }, 30_000);

    edge.child.kill('SIGTERM');
    assert.equal(await edge.exited, 0, edge.output());
    await assert.rejects(request(http, 'a.example.com'), /ECONNREFUSED/);
  });
});
