/**
 * The webhook sender against a real local receiver: the JSON it posts, the headers, retries with backoff
 * when the receiver fails, and giving up without blocking anything.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { createWebhookSender, type Alert } from '../../src/alerts/webhook.ts';
import { createLogger } from '../../src/log.ts';
import { Writable } from 'node:stream';

type Ctx = { after(fn: () => unknown): void };

async function receiver(t: Ctx, answer: (n: number) => number) {
  const got: Array<{ headers: http.IncomingHttpHeaders; body: unknown }> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      got.push({ headers: req.headers, body: JSON.parse(body) });
      res.writeHead(answer(got.length)).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => server.close(r)));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got };
}

function logSink() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({ write(c: Buffer, _e, cb) { for (const l of c.toString().split('\n')) if (l) lines.push(JSON.parse(l)); cb(); } });
  return { lines, log: createLogger({ level: 'debug', file: null, stdout: false, stream }).log };
}

const alert: Alert = { event: 'certificate.renewal_failed', name: 'app.example.com', source: 'letsencrypt', notAfter: '2027-01-01T00:00:00.000Z',
  daysLeft: 5, reason: 'expires in 5 days (within 30)', error: { code: 'EDGE_ERR_ACME_UNAUTHORIZED', message: 'the CA could not validate' }, at: '2026-12-01T00:00:00.000Z' };

describe('alert webhook', () => {
  it('posts the alert as JSON with the configured headers, which are never logged', async (t) => {
    const r = await receiver(t, () => 204);
    const { lines, log } = logSink();
    const s = createWebhookSender({ url: r.url, headers: { authorization: 'Bearer s3cret' }, log, edge: 'edge-1', backoffMs: [10] });
    t.after(() => s.close());
    s.send(alert);
    await s.idle();
    assert.equal(r.got.length, 1);
    assert.deepEqual(r.got[0]!.body, { ...alert, edge: 'edge-1' });
    assert.equal(r.got[0]!.headers.authorization, 'Bearer s3cret');
    assert.equal(r.got[0]!.headers['content-type'], 'application/json');
    assert.ok(!JSON.stringify(lines).includes('s3cret'));
  });

  it('retries with backoff while the receiver fails, then delivers', async (t) => {
    const r = await receiver(t, (n) => (n < 3 ? 503 : 200));
    const { lines, log } = logSink();
    const s = createWebhookSender({ url: r.url, headers: {}, log, edge: 'e', backoffMs: [10, 20, 30] });
    t.after(() => s.close());
    s.send(alert);
    await s.idle();
    assert.equal(r.got.length, 3);
    assert.equal(lines.filter((l) => l.msg === 'alert delivery failed: retrying').length, 2);
    assert.ok(lines.some((l) => l.msg === 'alert delivered'));
  });

  it('gives up after the last attempt and says so; a receiver that is down never blocks the caller', async (t) => {
    const { lines, log } = logSink();
    const s = createWebhookSender({ url: 'http://127.0.0.1:1/hook', headers: {}, log, edge: 'e', backoffMs: [5, 5] });
    t.after(() => s.close());
    s.send(alert);
    await s.idle();
    assert.ok(lines.some((l) => l.msg === 'alert not delivered: giving up' && l.attempts === 3));
  });
});
