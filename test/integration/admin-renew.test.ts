/**
 * Certificates through the admin API against a real Pebble: GET /certs reports what is stored and when it
 * renews, and POST /certs/{name}/renew issues now (ignoring the renewal rule) and returns the new expiry,
 * which is what TLS clients get from the edge right after.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { adminClientOf } from '../helpers/admin.ts';
import { startTestEdge } from '../helpers/edge.ts';
import { peerCertificate, refusedPort, startBackend, waitFor } from '../helpers/net.ts';
import { pebbleSkipReason, startPebble } from '../helpers/pebble.ts';

describe('admin API: certificates (Pebble)', { skip: pebbleSkipReason() }, () => {
  it('lists the certificate with its expiry and next renewal, and renews it now', async (t) => {
    const http = await refusedPort();
    const https = await refusedPort();
    const pebble = await startPebble(t, { httpPort: http });
    const b = await startBackend(t, 'vm');
    const { edge } = await startTestEdge(t, {
      listen: { http, https, host: '127.0.0.1' },
      admin: { listen: '127.0.0.1:0' },
      acme: { directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, agreeTos: true, skipChallengeVerification: true,
        retryMaxAttempts: 0, pollMinMs: 20, pollMaxMs: 200, pollAttempts: 50 },
      proxies: [{ domain: 'app.example.com', target: '127.0.0.1', targetPort: b.port, ssl: true, certSource: 'letsencrypt' }],
    }, { ephemeralPorts: false });
    const api = adminClientOf(edge.admin);
    const intermediate = new X509Certificate(await pebble.intermediatePem());
    const fromPebble = async () => {
      const c = await peerCertificate(https, 'app.example.com');
      return new X509Certificate(c.raw).checkIssued(intermediate) ? c : null;
    };
    const first = await waitFor('the CA certificate', fromPebble, 30_000);

    const certs = await api.call('GET', '/api/v1/certs');
    assert.equal(certs.status, 200);
    const view = certs.body.certificates.find((c: { name: string }) => c.name === 'app.example.com');
    assert.equal(view.source, 'letsencrypt');
    assert.equal(view.certificate.source, 'letsencrypt');
    assert.equal(new Date(view.certificate.notAfter).getTime(), new Date(first.valid_to).getTime());
    assert.ok(Date.parse(view.nextRenewalAt) < Date.parse(view.certificate.notAfter), 'renews before it expires');
    assert.equal(view.lastError, null);
    const proxies = await api.call('GET', '/api/v1/proxies');
    assert.equal(proxies.body.proxies[0].status, 'serving');

    const renewed = await api.call('POST', '/api/v1/certs/app.example.com/renew');
    assert.equal(renewed.status, 200, JSON.stringify(renewed.body));
    assert.equal(renewed.body.name, 'app.example.com');
    assert.match(renewed.body.reason, /^forced/, 'not due: renewed because asked');
    assert.ok(Date.parse(renewed.body.notAfter) >= Date.parse(first.valid_to));
    const served = await waitFor('the renewed certificate to be served', async () => {
      const c = await fromPebble();
      return c && c.fingerprint256 !== first.fingerprint256 ? c : null;
    });
    assert.equal(new Date(served.valid_to).getTime(), new Date(renewed.body.notAfter).getTime());
  });
});
