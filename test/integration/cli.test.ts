/**
 * The CLI as users run it: exit codes, what it prints, and the running edge's signal handling.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { makeLeaf, writeTemp } from '../helpers/certs.ts';
import { runCli, spawnEdge } from '../helpers/cli.ts';
import { refusedPort, request, startBackend, waitFor } from '../helpers/net.ts';

function writeConfig(doc: Record<string, unknown>): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'edge-cli-'));
  const file = join(dir, 'edge.yaml');
  writeFileSync(file, stringify({ certs: { dir: join(dir, 'certs') }, data: { dir: join(dir, 'data') }, log: { file: join(dir, 'edge.log'), level: 'info' }, ...doc }));
  return { dir, file };
}

describe('CLI', () => {
  it('--help prints usage and exits 0; an unknown flag exits 2', async () => {
    const help = await runCli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--renew-ssl \[--force\]/);
    const bad = await runCli(['--frobnicate']);
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr, 'idcs-edge: unknown option --frobnicate (see idcs-edge --help)\n');
    const misplaced = await runCli(['--force']);
    assert.equal(misplaced.code, 2);
    assert.match(misplaced.stderr, /go with --renew-ssl/);
  });

  it('--check-config prints the proxies of a valid config and exits 0', async () => {
    const { file } = writeConfig({
      vms: [{ name: 'web1', owner: 'user1', ip: '10.0.0.5' }],
      proxies: [
        { domain: 'app.example.com', target: '10.0.0.5', targetPort: 8080, ssl: true, note: 'Web' },
        { domain: '*.user1.example.com', owner: 'user1', targetPort: 80 },
      ],
    });
    const r = await runCli(['--check-config', '--config', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /config OK/);
    assert.match(r.stdout, /app\.example\.com\s+10\.0\.0\.5:8080\s+http\s+yes\s+self-signed\s+yes\s+Web/);
    assert.match(r.stdout, /\*\.user1\.example\.com\s+VMs of user1 \(1\)/);
  });

  it('--check-config names the path of each problem and exits 2', async () => {
    const { file } = writeConfig({ proxies: [
      { domain: 'a.example.com', target: '10.0.0.5' },
      { domain: 'b.example.com', target: '10.0.0.5' },
      { domain: 'c.example.com', target: '10.0.0.5', targetPort: 70000 },
    ] });
    const r = await runCli(['--check-config', '--config', file]);
    assert.equal(r.code, 2);
    // The line, the index and the domain: what an operator needs to find the proxy in a long file.
    assert.match(r.stderr, /line \d+: proxies\[2\] \(c\.example\.com\)\.targetPort: expected 1-65535/);
    const missing = await runCli(['--check-config', '--config', '/nonexistent/edge.yaml']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /config file not found: \/nonexistent\/edge\.yaml/);
  });

  it('--check-config checks uploaded certificates as a start would', async (t) => {
    const leaf = await makeLeaf({ names: ['www.example.com'] });
    const files = await writeTemp(t, { 'c.pem': leaf.certPem, 'k.pem': leaf.keyPem });
    const { file } = writeConfig({ proxies: [
      { domain: 'shop.example.com', target: '10.0.0.5', ssl: true, certSource: 'upload', certFile: files.path('c.pem'), keyFile: files.path('k.pem') },
    ] });
    const r = await runCli(['--check-config', '--config', file]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /proxies\[0\]\.certFile: the certificate in .*c\.pem covers www\.example\.com, not shop\.example\.com/);
  });

  it('a port that cannot be bound stops the edge with exit 1 and says why', async (t) => {
    const b = await startBackend(t, 'b');
    const { file } = writeConfig({ listen: { http: b.port, https: 0, host: '127.0.0.1' } });
    const r = await runCli(['--config', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /EDGE_ERR_LISTEN: cannot listen for HTTP on 127\.0\.0\.1:\d+: EADDRINUSE/);
  });

  it('a demo VM port that is taken stops the edge with a clean EDGE_ERR_LISTEN, no stack trace', async (t) => {
    const b = await startBackend(t, 'b');
    const { file } = writeConfig({ listen: { http: await refusedPort(), https: 0, host: '127.0.0.1' }, demo: { enabled: true, port: b.port } });
    const r = await runCli(['--config', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^EDGE_ERR_LISTEN: cannot listen for the demo VM \(demo\.port\) on 127\.0\.0\.1:\d+: EADDRINUSE/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });

  it('SIGTERM lets an in-flight request finish, then exits 0', async (t) => {
    const b = await startBackend(t, 'b');
    const httpPort = await refusedPort();
    const { file } = writeConfig({
      listen: { http: httpPort, https: 0, host: '127.0.0.1' },
      shutdown: { graceMs: 5000 },
      proxies: [{ domain: 'a.example.com', target: '127.0.0.1', targetPort: b.port }],
    });
    const edge = spawnEdge(t, file);
    await waitFor('the edge to serve', async () => (await request(httpPort, 'a.example.com')).status === 200, 20_000);
    const seen = b.requests.length;
    const slow = request(httpPort, 'a.example.com', { path: '/slow?ms=700' });
    await waitFor('the slow request to reach the VM', () => b.requests.length > seen);
    edge.child.kill('SIGTERM');
    const r = await slow;
    assert.equal(r.status, 200, 'the in-flight request completed');
    assert.equal(JSON.parse(r.body).url, '/slow?ms=700');
    assert.equal(await edge.exited, 0, edge.output());
    await assert.rejects(request(httpPort, 'a.example.com'), /ECONNREFUSED/);
    assert.match(edge.output(), /signal received: draining/);
  });
});
