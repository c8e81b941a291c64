/**
 * Limits: connections in total and per client address, and the header size. What a client over a limit
 * receives, what the edge logs (at a rate that cannot flood), that the limits apply live, and that the
 * edge keeps serving within them.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import tls from 'node:tls';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { logLine } from '../helpers/fault-vms.ts';
import { request, waitFor } from '../helpers/net.ts';
import { rawRequest, startRecordingVm, type RecordingVm } from '../helpers/raw.ts';

const APP = 'app.example.com';
const SECURE = 'secure.example.com';
const GET = `GET / HTTP/1.1\r\nHost: ${APP}\r\nConnection: close\r\n\r\n`;

function doc(vm: RecordingVm, extra: Record<string, unknown>): Record<string, unknown> {
  return { ...extra, proxies: [
    { domain: APP, target: '127.0.0.1', targetPort: vm.port },
    { domain: SECURE, target: '127.0.0.1', targetPort: vm.port, ssl: true },
  ] };
}

async function edgeWith(t: TestContext, limits: Record<string, number>, extra: Record<string, unknown> = {}): Promise<{ te: TestEdge; vm: RecordingVm }> {
  const vm = await startRecordingVm(t);
  const te = await startTestEdge(t, doc(vm, { limits, ...extra }));
  return { te, vm };
}

/** Opens `n` connections from `localAddress` that stay open (nothing sent); closed after the test. */
async function hold(t: TestContext, te: TestEdge, n: number, localAddress = '127.0.0.1'): Promise<net.Socket[]> {
  const before = te.edge.stats().connections;
  const sockets = Array.from({ length: n }, () => {
    const s = net.connect({ host: '127.0.0.1', port: te.edge.httpPort!, localAddress });
    s.on('error', () => {});
    return s;
  });
  t.after(() => { for (const s of sockets) s.destroy(); });
  await waitFor(`${n} held connections`, () => te.edge.stats().connections === before + n);
  return sockets;
}

/** A TLS client's view of a connection the edge closes before the handshake. */
function tlsOutcome(port: number): Promise<'secure' | 'closed'> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: SECURE, rejectUnauthorized: false }, () => { s.destroy(); resolve('secure'); });
    s.on('error', () => resolve('closed'));
    s.on('close', () => resolve('closed'));
  });
}

describe('limits.maxConnections', () => {
  it('over the limit: HTTP gets 503 EDGE_ERR_TOO_MANY_CONNECTIONS and is closed, TLS is closed before its handshake, one log line per interval', async (t) => {
    const { te, vm } = await edgeWith(t, { maxConnections: 5, maxConnectionsPerClient: 0 });
    const held = await hold(t, te, 5);
    const refused = await rawRequest(te.edge.httpPort!, GET);
    assert.equal(refused.status, 503, refused.text);
    assert.match(refused.text, /\r\nx-edge-error: EDGE_ERR_TOO_MANY_CONNECTIONS\r\n/);
    assert.match(refused.text, /\r\nretry-after: 1\r\n/);
    assert.match(refused.text, /\r\nconnection: close\r\n/);
    assert.equal(await tlsOutcome(te.edge.httpsPort!), 'closed');
    // A burst of refusals (bounded) is one line, with the count, until the interval has passed.
    for (let i = 0; i < 30; i++) assert.equal((await rawRequest(te.edge.httpPort!, GET)).status, 503);
    const lines = te.logs.filter((l) => l.msg === 'connections refused: limit reached (counts since the last such line)');
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.code, 'EDGE_ERR_TOO_MANY_CONNECTIONS');
    assert.equal(lines[0]!.maxConnections, 5);
    assert.equal(vm.requests.length, 0);
    assert.equal(te.edge.stats().connections, 5, 'refused connections are not counted');
    // Room again once held connections go.
    held[0]!.destroy();
    await waitFor('a free slot', () => te.edge.stats().connections === 4);
    assert.equal((await rawRequest(te.edge.httpPort!, GET)).status, 200);
  });

  it('applies live: raising the limit admits connections at once', async (t) => {
    const { te, vm } = await edgeWith(t, { maxConnections: 2, maxConnectionsPerClient: 0 });
    await hold(t, te, 2);
    assert.equal((await rawRequest(te.edge.httpPort!, GET)).status, 503);
    te.writeConfig(doc(vm, { limits: { maxConnections: 10 } }));
    assert.equal((await te.edge.reload('signal')).ok, true);
    assert.equal((await rawRequest(te.edge.httpPort!, GET)).status, 200);
  });
});

describe('limits.maxConnectionsPerClient', () => {
  it('the client over its share gets 429 EDGE_ERR_CLIENT_CONNECTIONS while another address is served', async (t) => {
    const { te } = await edgeWith(t, { maxConnectionsPerClient: 3 });
    await hold(t, te, 3, '127.0.0.1');
    const refused = await rawRequest(te.edge.httpPort!, GET);
    assert.equal(refused.status, 429, refused.text);
    assert.match(refused.text, /\r\nx-edge-error: EDGE_ERR_CLIENT_CONNECTIONS\r\n/);
    assert.equal(await tlsOutcome(te.edge.httpsPort!), 'closed');
    const line = await logLine(te.logs, 'connections refused: limit reached (counts since the last such line)');
    assert.equal(line.code, 'EDGE_ERR_CLIENT_CONNECTIONS');
    assert.equal(line.client, '127.0.0.1');
    const other = await rawRequest(te.edge.httpPort!, GET, { localAddress: '127.0.0.2' });
    assert.equal(other.status, 200, 'another client address is not affected');
  });

  it('trusted proxies are exempt: they carry many clients', async (t) => {
    const { te } = await edgeWith(t, { maxConnectionsPerClient: 3 }, { trustedProxies: ['127.0.0.1'] });
    await hold(t, te, 3);
    assert.equal((await rawRequest(te.edge.httpPort!, GET)).status, 200);
  });
});

describe('limits.maxHeaderBytes', () => {
  const big = (bytes: number) => `GET / HTTP/1.1\r\nHost: ${APP}\r\nX-Big: ${'b'.repeat(bytes)}\r\n\r\n`;

  it('headers over the limit get 431 EDGE_ERR_HEADERS_TOO_LARGE and reach no VM; under it they are served; it applies live', async (t) => {
    const { te, vm } = await edgeWith(t, { maxHeaderBytes: 4096 });
    const refused = await rawRequest(te.edge.httpPort!, big(6000));
    assert.equal(refused.status, 431, refused.text);
    assert.match(refused.text, /\r\nx-edge-error: EDGE_ERR_HEADERS_TOO_LARGE\r\n/);
    const id = /\r\nx-request-id: (\S+)\r\n/.exec(refused.text)![1];
    const line = await logLine(te.logs, 'request failed', { id, code: 'EDGE_ERR_HEADERS_TOO_LARGE' });
    assert.match(String(line.err), /limits\.maxHeaderBytes \(4096 bytes\)/);
    assert.equal(vm.requests.length, 0);
    assert.equal((await rawRequest(te.edge.httpPort!, big(3000))).status, 200);
    te.writeConfig(doc(vm, { limits: { maxHeaderBytes: 8192 } }));
    assert.equal((await te.edge.reload('signal')).ok, true);
    assert.equal((await rawRequest(te.edge.httpPort!, big(6000))).status, 200);
    assert.equal((await request(te.edge.httpPort!, APP)).status, 200);
  });

  it('the same over HTTPS', async (t) => {
    const { te, vm } = await edgeWith(t, { maxHeaderBytes: 4096 });
    const refused = await rawRequest(te.edge.httpsPort!, big(6000).replace(APP, SECURE), { tls: true, servername: SECURE });
    assert.equal(refused.status, 431, refused.text);
    assert.equal(vm.requests.length, 0);
  });
});
