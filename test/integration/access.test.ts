/**
 * Access rules and basic auth over real sockets: allow/deny on a proxy (403 EDGE_ERR_FORBIDDEN for requests
 * and WebSocket upgrades, never forwarded), the client behind a trusted proxy judged by X-Forwarded-For, a
 * VM's rules applying to every proxy and forward that reaches it (a refused TCP source closed at once),
 * allow/deny on a forward, and basic auth accepted and refused (401 with the realm).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, it } from 'node:test';
import { hashPassword } from '../../src/policy/password.ts';
import { startTestEdge } from '../helpers/edge.ts';
import { connect, freePortRange, tcpEcho } from '../helpers/forwards.ts';
import { echo, openWebSocket, startBackend, waitFor } from '../helpers/net.ts';

/** A request from a chosen loopback source address. */
function from(localAddress: string, port: number, host: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, localAddress, path: '/', agent: false, headers: { host, ...headers } }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('access rules', () => {
  it('refuses a proxy\'s denied and not-allowed clients with 403, requests and WebSockets alike, and reads a trusted proxy\'s X-Forwarded-For', async (t) => {
    const b = await startBackend(t, 'b');
    const { edge, logs } = await startTestEdge(t, {
      trustedProxies: ['127.0.0.8'],
      proxies: [
        { domain: 'deny.example.com', target: '127.0.0.1', targetPort: b.port, access: { deny: ['127.0.0.5/32', '10.9.9.0/24'] } },
        { domain: 'allow.example.com', target: '127.0.0.1', targetPort: b.port, access: { allow: ['127.0.0.1/32', '::1'] } },
      ],
    });
    const port = edge.httpPort!;
    assert.equal((await from('127.0.0.1', port, 'deny.example.com')).status, 200);
    const denied = await from('127.0.0.5', port, 'deny.example.com');
    assert.equal(denied.status, 403);
    assert.equal(denied.headers['x-edge-error'], 'EDGE_ERR_FORBIDDEN');
    assert.equal((await from('127.0.0.1', port, 'allow.example.com')).status, 200);
    assert.equal((await from('127.0.0.6', port, 'allow.example.com')).status, 403);
    // From a trusted proxy, the client is the first untrusted X-Forwarded-For hop (a header value: no traffic goes there).
    assert.equal((await from('127.0.0.8', port, 'deny.example.com', { 'x-forwarded-for': '10.9.9.9' })).status, 403);
    assert.equal((await from('127.0.0.8', port, 'deny.example.com', { 'x-forwarded-for': '10.8.8.8' })).status, 200);
    // An untrusted peer cannot claim another address.
    assert.equal((await from('127.0.0.5', port, 'deny.example.com', { 'x-forwarded-for': '10.8.8.8' })).status, 403);
    assert.equal(b.requests.length, 3, 'refused requests never reach the VM');
    const line = logs.find((l) => l.msg === 'request failed' && l.code === 'EDGE_ERR_FORBIDDEN' && l.client === '127.0.0.5');
    assert.match(String(line?.err), /127\.0\.0\.5 is in the deny list of proxies\[0\] \(deny\.example\.com\)/);

    await assert.rejects(openWebSocketFrom('127.0.0.6', port, 'allow.example.com'), (e: Error & { status?: number }) => e.status === 403);
    const ws = await openWebSocket(port, 'allow.example.com');
    assert.equal(await echo(ws, 'hi'), 'b:http:hi');
    ws.close();
  });

  it('applies a VM\'s rules to the proxies and forwards that reach it, and a forward\'s own rules; refused TCP is closed at once', async (t) => {
    const b = await startBackend(t, 'vm');
    const tcp = await tcpEcho(t);
    const other = await tcpEcho(t, '127.0.0.3');
    const base = await freePortRange(['127.0.0.1'], 2);
    const te = await startTestEdge(t, {
      vms: [{ owner: 'user1', name: 'web1', ip: '127.0.0.1', port: b.port, access: { deny: ['127.0.0.5'] } }],
      proxies: [{ domain: '*.user1.example.com', owner: 'user1' }],
      forwards: [
        { port: base, vm: { owner: 'user1', name: 'web1' }, targetPort: tcp.port },
        { port: base + 1, target: '127.0.0.3', targetPort: other.port, allow: ['127.0.0.0/30'], deny: ['127.0.0.2'] },
      ],
    });
    const port = te.edge.httpPort!;
    assert.equal((await from('127.0.0.1', port, 'web1.user1.example.com')).status, 200);
    assert.equal((await from('127.0.0.5', port, 'web1.user1.example.com')).status, 403, 'the VM\'s deny list covers the template proxy');
    await assert.rejects(openWebSocketFrom('127.0.0.5', port, 'web1.user1.example.com'), (e: Error & { status?: number }) => e.status === 403);

    const ok = await connect(base, '127.0.0.1', '127.0.0.1');
    ok.socket.end('fine');
    await ok.closed;
    assert.equal(ok.received(), 'fine');
    assert.equal(await exchange(base, '127.0.0.5', 'let me in'), null, 'the VM\'s deny list covers the forward: reset, nothing passed');
    assert.equal(tcp.connections.size, 0);

    // The forward's own rules: allow 127.0.0.0/30 but deny 127.0.0.2 (deny wins); 127.0.0.6 is not allowed.
    for (const [src, admitted] of [['127.0.0.1', true], ['127.0.0.2', false], ['127.0.0.6', false]] as const) {
      assert.equal(await exchange(base + 1, src, 'x'), admitted ? 'x' : null, `source ${src}`);
    }
    await waitFor('the refusals logged (at most one line per 10 s)', () => te.logs.filter((l) => l.msg === 'forward refused a source').length === 1);
  });
});

describe('basic auth', () => {
  it('accepts the right user and password, refuses others with 401 and the realm, requests and WebSockets alike', async (t) => {
    const b = await startBackend(t, 'b');
    const hash = await hashPassword('s3cret');
    const { edge } = await startTestEdge(t, {
      proxies: [{ domain: 'auth.example.com', target: '127.0.0.1', targetPort: b.port, auth: { users: [{ name: 'alice', hash }] } }],
    });
    const port = edge.httpPort!;
    const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
    const none = await from('127.0.0.1', port, 'auth.example.com');
    assert.equal(none.status, 401);
    assert.equal(none.headers['www-authenticate'], 'Basic realm="auth.example.com"');
    assert.equal(none.headers['x-edge-error'], 'EDGE_ERR_UNAUTHORIZED');
    assert.equal((await from('127.0.0.1', port, 'auth.example.com', basic('alice', 'wrong'))).status, 401);
    assert.equal((await from('127.0.0.1', port, 'auth.example.com', basic('bob', 's3cret'))).status, 401);
    assert.equal(b.requests.length, 0, 'nothing reached the VM');
    const ok = await from('127.0.0.1', port, 'auth.example.com', basic('alice', 's3cret'));
    assert.equal(ok.status, 200);
    assert.equal(JSON.parse(ok.body).headers.authorization, basic('alice', 's3cret').authorization, 'the VM sees the credentials too');
    // The second time is answered from the verified-credential cache (same answer).
    assert.equal((await from('127.0.0.1', port, 'auth.example.com', basic('alice', 's3cret'))).status, 200);

    await assert.rejects(openWebSocketFrom('127.0.0.1', port, 'auth.example.com'), (e: Error & { status?: number }) => e.status === 401);
    const ws = await openWebSocketFrom('127.0.0.1', port, 'auth.example.com', basic('alice', 's3cret'));
    assert.equal(await echo(ws, 'hi'), 'b:http:hi');
    ws.close();
  });
});

/** Sends `text` from `src` and reads the answer until close; null when the edge reset the connection with nothing passed. */
async function exchange(port: number, src: string, text: string): Promise<string | null> {
  let c;
  try {
    c = await connect(port, '127.0.0.1', src);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ECONNRESET') return null;
    throw e;
  }
  c.socket.end(text);
  const { hadError } = await c.closed;
  return hadError && c.received() === '' ? null : c.received();
}

/** A WebSocket from a chosen source address (the ws package's localAddress option). */
async function openWebSocketFrom(localAddress: string, port: number, host: string, headers: Record<string, string> = {}) {
  const { WebSocket } = await import('ws');
  return new Promise<InstanceType<typeof WebSocket>>((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { headers: { host, ...headers }, localAddress });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
  });
}
