/**
 * `idcs-edge --renew-ssl` and `idcs-edge certs` as an operator runs them next to a running edge: the
 * renewed certificate is served by the running edge without a restart.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fixedClock } from '../../src/clock.ts';
import { makeSelfSigned } from '../../src/tls/selfsigned.ts';
import { makeLeaf, writeTemp } from '../helpers/certs.ts';
import { runCli } from '../helpers/cli.ts';
import { startTestEdge } from '../helpers/edge.ts';
import { peerCertificate, startBackend, waitFor } from '../helpers/net.ts';
import { testCertStore } from '../helpers/storage.ts';

const DAY = 86_400_000;

describe('--renew-ssl', () => {
  it('renews a self-signed certificate that expires soon, and the running edge serves it', async (t) => {
    const b = await startBackend(t, 'b');
    const leaf = await makeLeaf({ names: ['shop.example.com'], notAfter: new Date(Date.now() + 200 * DAY) });
    const up = await writeTemp(t, { 'shop.crt': leaf.certPem, 'shop.key': leaf.keyPem });
    const doc = { proxies: [
      { domain: 'app.example.com', target: '127.0.0.1', targetPort: b.port, ssl: true },
      { domain: 'fresh.example.com', target: '127.0.0.1', targetPort: b.port, ssl: true },
      { domain: 'shop.example.com', target: '127.0.0.1', targetPort: b.port, ssl: true, certSource: 'upload', certFile: up.path('shop.crt'), keyFile: up.path('shop.key') },
    ] };
    const { edge, configFile, dir } = await startTestEdge(t, doc);
    // Put a certificate that expires in 5 days in the store, as if it had been made long ago.
    const store = testCertStore(t, `${dir}/certs`, fixedClock(new Date()));
    const old = await makeSelfSigned(['app.example.com'], { clock: fixedClock(new Date(Date.now() - 360 * DAY)), validityDays: 365 });
    await store.write('app.example.com', { certPem: old.certPem, keyPem: old.keyPem, meta: { source: 'self-signed' } });
    const servedOld = await waitFor('the edge to serve the stored certificate', async () => {
      const c = await peerCertificate(edge.httpsPort!, 'app.example.com');
      return Date.parse(c.valid_to) - Date.now() < 6 * DAY ? c : null;
    });
    const freshBefore = await peerCertificate(edge.httpsPort!, 'fresh.example.com');

    const dry = await runCli(['--renew-ssl', '--dry-run', '--config', configFile]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /app\.example\.com\s+self-signed\s+\S+ \S+\s+-\s+would-renew\s+.*expires in [45] days/);

    const r = await runCli(['--renew-ssl', '--config', configFile]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /app\.example\.com\s+self-signed\s+\S+ \S+\s+\S+ \S+\s+renewed/);
    assert.match(r.stdout, /fresh\.example\.com\s+self-signed\s+.*skipped/);
    assert.match(r.stdout, /shop\.example\.com\s+upload\s+.*reported/);

    const servedNew = await waitFor('the running edge to serve the renewed certificate', async () => {
      const c = await peerCertificate(edge.httpsPort!, 'app.example.com');
      return c.fingerprint256 !== servedOld.fingerprint256 ? c : null;
    });
    // Renewed by the local CA: a short-lived leaf (7 days), not the year-long self-issued one it replaces.
    assert.match(String(servedNew.issuer.O), /idcs-edge local CA/);
    assert.ok(Date.parse(servedNew.valid_to) - Date.now() > 6 * DAY);
    assert.equal((await peerCertificate(edge.httpsPort!, 'fresh.example.com')).fingerprint256, freshBefore.fingerprint256, 'a fresh certificate is left alone');
    assert.equal((await peerCertificate(edge.httpsPort!, 'shop.example.com')).fingerprint256, (await peerCertificate(edge.httpsPort!, 'shop.example.com')).fingerprint256);

    const forced = await runCli(['--renew-ssl', '--force', '--domain', 'fresh.example.com', '--config', configFile]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /fresh\.example\.com\s+self-signed.*renewed/);
    assert.doesNotMatch(forced.stdout, /app\.example\.com/);

    const unknown = await runCli(['--renew-ssl', '--domain', 'nope.example.com', '--config', configFile]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no certificate named nope\.example\.com/);

    // A name whose first issuance failed has no certificate, but `certs` shows its last error.
    await store.recordFailure({ name: 'new.example.com', source: 'letsencrypt', failures: 1, nextAttemptAt: new Date(Date.now() + 60_000).toISOString(),
      lastError: { at: '2025-03-01T10:00:00.000Z', code: 'EDGE_ERR_ACME_UNAUTHORIZED', message: 'DNS points elsewhere' } });
    const list = await runCli(['certs', '--config', configFile]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /app\.example\.com\s+self-signed\s+\S+ \S+\s+[67]\s/);
    assert.match(list.stdout, /new\.example\.com\s+letsencrypt\s+-\s+-\s+2025-03-01 10:00 EDGE_ERR_ACME_UNAUTHORIZED: DNS points elsewhere \(1 failed, next attempt \d{4}-\d\d-\d\d \d\d:\d\d\) \(no certificate yet\)/);
  });
});
