/**
 * The local CA, as an operator meets it: `idcs-edge ca export` prints a CA that a real TLS client can trust
 * for every self-signed certificate the edge serves; its key is kept 0600; certificates made before the CA
 * existed keep being served until they are renewed.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { systemClock } from '../../src/clock.ts';
import { makeSelfSigned } from '../../src/tls/selfsigned.ts';
import { runCli } from '../helpers/cli.ts';
import { startTestEdge } from '../helpers/edge.ts';
import { peerCertificate, request, startBackend } from '../helpers/net.ts';
import { testCertStore } from '../helpers/storage.ts';

describe('local CA', () => {
  it('ca export prints the CA that signed the served certificates; a verifying TLS client accepts them', async (t) => {
    const b = await startBackend(t, 'vm');
    const { edge, configFile, dir } = await startTestEdge(t, { proxies: [
      { domain: 'app.example.com', target: '127.0.0.1', targetPort: b.port, ssl: true },
      { domain: '*.users.example.com', target: '127.0.0.1', targetPort: b.port, ssl: true },
    ] });
    const exported = await runCli(['ca', 'export', '--config', configFile]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stdout, /^-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----\n$/);
    assert.match(exported.stderr, /update-ca-certificates/);
    const ca = new X509Certificate(exported.stdout);
    assert.ok(ca.ca, 'a CA certificate');
    for (const host of ['app.example.com', 'web1.users.example.com']) {
      // rejectUnauthorized with the exported CA: the handshake only succeeds if the chain verifies.
      const r = await request(edge.httpsPort!, host, { https: true, ca: exported.stdout });
      assert.equal(r.status, 200);
      const leaf = new X509Certificate(r.cert!.raw);
      assert.ok(leaf.checkIssued(ca) && leaf.verify(ca.publicKey));
      assert.ok(Date.parse(leaf.validTo) - Date.now() <= 7 * 86_400_000 + 60_000, 'leaves are short-lived');
    }
    assert.equal(statSync(join(dir, 'certs', '.state', 'local-ca', 'ca.key')).mode & 0o777, 0o600);
    // Exporting again gives the same CA: one per edge.
    assert.equal((await runCli(['ca', 'export', '--config', configFile])).stdout, exported.stdout);
  });

  it('a self-signed certificate made before the local CA existed keeps serving until it is renewed', async (t) => {
    const b = await startBackend(t, 'vm');
    const { edge, dir, writeConfig } = await startTestEdge(t, { proxies: [] }, { watch: false });
    const store = testCertStore(t, join(dir, 'certs'));
    const old = await makeSelfSigned(['old.example.com'], { clock: systemClock, validityDays: 300 });
    await store.write('old.example.com', { ...old, meta: { source: 'self-signed' } });
    writeConfig({ proxies: [{ domain: 'old.example.com', target: '127.0.0.1', targetPort: b.port, ssl: true }] });
    assert.equal((await edge.reload()).ok, true);
    assert.equal((await peerCertificate(edge.httpsPort!, 'old.example.com')).fingerprint256, new X509Certificate(old.certPem).fingerprint256);
  });
});
