/**
 * TLS session resumption with the edge's ticket keys (tls/tickets.ts): a client that kept the ticket of
 * its first connection resumes (no full handshake), on a single edge and on a `workers: 2` edge whatever
 * worker the connection lands on, because every worker has the key the primary made. Each connection
 * also carries a request, so the access log tells which worker served it. (node:tls alone gives cluster
 * workers one shared key too; what the primary's key adds, the same key after a 12-hour rotation, is the
 * rotation test's below plus this one's.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import tls from 'node:tls';
import { startTicketRotation } from '../../src/tls/tickets.ts';
import { startTestEdge } from '../helpers/edge.ts';
import { startEdgeProcess } from '../helpers/edge-process.ts';
import { startBackend, waitFor } from '../helpers/net.ts';

interface Visit {
  readonly reused: boolean;
  readonly status: string;
  /** The ticket the server sent on this connection (TLS 1.3 sends them after the handshake). */
  readonly session: Buffer | null;
}

/** One TLS connection to `port` offering `session`, one GET, and what came of it. */
function visit(port: number, host: string, session?: Buffer, path = '/'): Promise<Visit> {
  return new Promise((resolve, reject) => {
    let ticket: Buffer | null = null;
    let text = '';
    const s = tls.connect({ host: '127.0.0.1', port, servername: host, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'],
      ...(session ? { session } : {}) }, () => {
      s.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    });
    s.setTimeout(10_000, () => s.destroy(new Error('no answer within 10 s')));
    s.on('session', (b: Buffer) => { ticket = b; });
    s.setEncoding('utf8');
    s.on('data', (d: string) => { text += d; });
    s.on('error', reject);
    s.on('end', () => resolve({ reused: s.isSessionReused(), status: text.split('\r\n')[0] ?? '', session: ticket }));
  });
}

describe('TLS session resumption', () => {
  it('a single edge resumes a session from its ticket', async (t) => {
    const b = await startBackend(t, 'vm');
    const { edge } = await startTestEdge(t, {
      proxies: [{ domain: 'app.example.com', target: '127.0.0.1', targetPort: b.port, ssl: true, certSource: 'self-signed' }],
    });
    const first = await visit(edge.httpsPort!, 'app.example.com');
    assert.equal(first.status, 'HTTP/1.1 200 OK');
    assert.equal(first.reused, false);
    assert.ok(first.session, 'the edge sent a session ticket');
    const again = await visit(edge.httpsPort!, 'app.example.com', first.session);
    assert.equal(again.status, 'HTTP/1.1 200 OK');
    assert.equal(again.reused, true, 'the second connection resumed the first one\'s session');
  });

  it('a workers: 2 edge resumes the session on either worker', async (t) => {
    const b = await startBackend(t, 'vm');
    const p = await startEdgeProcess(t, {
      workers: 2,
      proxies: [{ domain: 'a.example.com', target: '127.0.0.1', targetPort: b.port, ssl: true, certSource: 'self-signed' }],
    });
    const first = await visit(p.https, 'a.example.com');
    assert.ok(first.session, 'the edge sent a session ticket');
    // Fresh connections are dealt round-robin: go on until both workers have served resumed ones.
    const results: boolean[] = [];
    const pids = () => new Set(p.lines().filter((l) => l.msg === 'access' && String(l.path).startsWith('/resumed-')).map((l) => l.pid));
    await waitFor('both workers to serve a resumed connection', async () => {
      const v = await visit(p.https, 'a.example.com', first.session!, `/resumed-${results.length}`);
      assert.equal(v.status, 'HTTP/1.1 200 OK');
      results.push(v.reused);
      return results.length >= 4 && pids().size === 2;
    }, 20_000);
    assert.deepEqual(results.filter((r) => !r), [], `every connection resumed (${results.length} tried)`);
  });
});

describe('ticket key rotation', () => {
  it('makes 48-byte keys and replaces them each period', async () => {
    const keys: Buffer[] = [];
    const r = startTicketRotation((k) => keys.push(k), 20);
    try {
      assert.equal(r.current().length, 48);
      const first = r.current();
      await waitFor('two rotations', () => keys.length >= 2);
      assert.equal(keys[0]!.length, 48);
      assert.notDeepEqual(keys[0], first);
      assert.notDeepEqual(keys[1], keys[0]);
      assert.deepEqual(r.current(), keys.at(-1));
    } finally {
      r.stop();
    }
  });
});
