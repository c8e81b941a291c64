/**
 * Certificate alerts from a running edge against a real Pebble and a local webhook receiver: a renewal
 * the CA refuses (its validation cannot reach the edge) posts renewal_failed, the old certificate's near
 * expiry posts expiring, neither repeats on the next scan or attempt the same day, and once the CA can
 * validate again a renewal posts recovered. The webhook's headers are sent and never logged.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { acmeSection, tempDir } from '../helpers/acme.ts';
import { adminClientOf } from '../helpers/admin.ts';
import { makeCa, makeLeaf } from '../helpers/certs.ts';
import { startTestEdge } from '../helpers/edge.ts';
import { refusedPort, startBackend, waitFor } from '../helpers/net.ts';
import { pebbleSkipReason, startPebble } from '../helpers/pebble.ts';
import { testCertStore } from '../helpers/storage.ts';

const skip = pebbleSkipReason();
const DAY_MS = 86_400_000;
type Ctx = { after(fn: () => unknown): void };

interface Received { headers: http.IncomingHttpHeaders; body: Record<string, unknown> & { event: string } }

async function receiver(t: Ctx) {
  const got: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      got.push({ headers: req.headers, body: JSON.parse(body) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => { server.closeAllConnections(); server.close(r); }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/edge-alerts`, got };
}

/** A TCP relay from `from` to `to` on 127.0.0.1: lets Pebble's validation reach the edge. */
async function relay(t: Ctx, from: number, to: number): Promise<void> {
  const server = net.createServer((c) => {
    const u = net.connect(to, '127.0.0.1');
    c.pipe(u).pipe(c);
    c.on('error', () => u.destroy());
    u.on('error', () => c.destroy());
  });
  await new Promise<void>((r) => server.listen(from, '127.0.0.1', r));
  t.after(() => new Promise((r) => server.close(r)));
}

describe('certificate alerts (Pebble, local webhook)', { skip }, () => {
  it('post renewal_failed and expiring once, then recovered', async (t) => {
    const validationPort = await refusedPort();
    const pebble = await startPebble(t, { httpPort: validationPort });
    const b = await startBackend(t, 'vm');
    const hook = await receiver(t);
    const dir = tempDir(t, 'edge-alerts-');
    // The certificate an earlier run got, 5 days before it expires.
    const ca = await makeCa({ cn: 'Earlier CA' });
    const old = await makeLeaf({ ca, names: ['app.example.com'], notBefore: new Date(Date.now() - 85 * DAY_MS), notAfter: new Date(Date.now() + 5 * DAY_MS) });
    await testCertStore(t, join(dir, 'certs')).write('app.example.com', { certPem: old.chainPem, keyPem: old.keyPem, meta: { source: 'letsencrypt' } });
    const { edge, logs } = await startTestEdge(t, {
      __dir: dir,
      admin: { listen: '127.0.0.1:0' },
      acme: acmeSection(pebble),
      alerts: { webhook: hook.url, webhookHeaders: { authorization: 'Bearer hook-secret' } },
      proxies: [{ domain: 'app.example.com', target: '127.0.0.1', targetPort: b.port, ssl: true, certSource: 'letsencrypt' }],
    });
    const api = adminClientOf(edge.admin);
    const events = () => hook.got.map((g) => g.body.event).sort();

    // The scan at start: Pebble cannot reach the edge to validate.
    await waitFor('the failure and expiry alerts', () => events().length >= 2, 30_000);
    assert.deepEqual(events(), ['certificate.expiring', 'certificate.renewal_failed']);
    const failed = hook.got.find((g) => g.body.event === 'certificate.renewal_failed')!;
    assert.equal(failed.headers.authorization, 'Bearer hook-secret');
    assert.equal(failed.headers['content-type'], 'application/json');
    assert.deepEqual({ ...failed.body, at: null, edge: null }, {
      event: 'certificate.renewal_failed', name: 'app.example.com', source: 'letsencrypt', notAfter: new Date(new X509Certificate(old.certPem).validTo).toISOString(),
      daysLeft: 4, reason: failed.body.reason, error: failed.body.error, at: null, edge: null,
    });
    assert.equal((failed.body.error as { code: string }).code, 'EDGE_ERR_ACME_UNAUTHORIZED');
    assert.match(String(failed.body.reason), /lifetime remains|expires in 4 days/);
    const expiring = hook.got.find((g) => g.body.event === 'certificate.expiring')!;
    assert.equal(expiring.body.daysLeft, 4);
    assert.equal(expiring.body.error, undefined);

    // The same day: another scan (backing off) and a forced attempt that fails again alert nothing new.
    await edge.renewal!.scan('test');
    assert.equal((await api.call('POST', '/api/v1/certs/app.example.com/renew')).status, 502);
    await edge.alerts!.idle();
    assert.deepEqual(events(), ['certificate.expiring', 'certificate.renewal_failed'], 'once a day per name, not on every scan');

    // The CA can validate again: renewing now recovers.
    await relay(t, validationPort, edge.httpPort!);
    const renewed = await api.call('POST', '/api/v1/certs/app.example.com/renew');
    assert.equal(renewed.status, 200, JSON.stringify(renewed.body));
    await waitFor('the recovery alert', () => hook.got.some((g) => g.body.event === 'certificate.recovered'), 15_000);
    const recovered = hook.got.find((g) => g.body.event === 'certificate.recovered')!;
    assert.equal(recovered.body.name, 'app.example.com');
    assert.equal(recovered.body.notAfter, renewed.body.notAfter);
    assert.ok(Number(recovered.body.daysLeft) > 7);
    assert.equal(hook.got.length, 3);
    assert.ok(!JSON.stringify(logs).includes('hook-secret'), 'the webhook headers are never logged');
    assert.ok(logs.some((l) => l.msg === 'alert delivered' && l.event === 'certificate.recovered'));
  });
});
