/**
 * Slow clients: headers a byte at a time, TLS handshakes that never finish, bodies that stall, and an
 * idle keep-alive connection. Each is cut at its deadline (timeouts.*, small here) with the answer and log
 * line the README promises, while normal clients are served alongside 50+ slow ones.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { logLine } from '../helpers/fault-vms.ts';
import { request, serveOnLoopback, startBackend, waitFor } from '../helpers/net.ts';

const APP = 'app.example.com';
const SECURE = 'secure.example.com';
const SLOW = 60;
const DEADLINE = 600;

async function slowEdge(t: TestContext, vmPort: number, timeouts: Record<string, number> = {}): Promise<TestEdge> {
  return startTestEdge(t, {
    timeouts: { requestHeadersMs: DEADLINE, tlsHandshakeMs: DEADLINE, requestBodyIdleMs: DEADLINE, ...timeouts },
    proxies: [
      { domain: APP, target: '127.0.0.1', targetPort: vmPort },
      { domain: SECURE, target: '127.0.0.1', targetPort: vmPort, ssl: true },
    ],
  });
}

interface Slow {
  readonly socket: net.Socket;
  /** Everything the edge sent. */
  text(): string;
  readonly closed: Promise<void>;
}

/** Connects and calls `drip(socket, tick)` every 50 ms until the edge closes the connection (at most `maxTicks`). */
function slowClient(t: TestContext, port: number, drip: (s: net.Socket, tick: number) => void, maxTicks = 100): Slow {
  const socket = net.connect({ host: '127.0.0.1', port });
  let text = '';
  let tick = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || ++tick > maxTicks) return clearInterval(timer);
    drip(socket, tick);
  }, 50);
  socket.on('data', (c: Buffer) => { text += c.toString('latin1'); });
  socket.on('error', () => {});
  const closed = new Promise<void>((r) => socket.on('close', () => { clearInterval(timer); r(); }));
  t.after(() => { clearInterval(timer); socket.destroy(); });
  return { socket, text: () => text, closed };
}

describe('slow request headers', () => {
  it(`${SLOW} clients sending headers a byte at a time get 408 EDGE_ERR_HEADERS_TIMEOUT; a normal client is served meanwhile`, async (t) => {
    const vm = await startBackend(t, 'vm');
    const te = await slowEdge(t, vm.port);
    const head = `GET /slow HTTP/1.1\r\nHost: ${APP}\r\nX-Padding: ${'x'.repeat(200)}`;
    const slow = Array.from({ length: SLOW }, () => slowClient(t, te.edge.httpPort!, (s, i) => { if (i <= head.length) s.write(head[i - 1]!); }));
    await waitFor('every slow client to be connected', () => te.edge.stats().connections >= SLOW);
    const normal = await request(te.edge.httpPort!, APP, { path: '/normal' });
    assert.equal(normal.status, 200, 'a normal request is served while the slow ones are held');
    await Promise.all(slow.map((s) => s.closed));
    for (const s of slow) {
      assert.match(s.text(), /^HTTP\/1\.1 408 /);
      assert.match(s.text(), /x-edge-error: EDGE_ERR_HEADERS_TIMEOUT/);
    }
    const ids = new Set(slow.map((s) => /x-request-id: (\S+)/.exec(s.text())![1]));
    await waitFor('a request failed line for each', () =>
      te.logs.filter((l) => l.msg === 'request failed' && l.code === 'EDGE_ERR_HEADERS_TIMEOUT' && ids.has(String(l.id))).length === SLOW);
    assert.deepEqual(vm.requests.map((r) => r.url), ['/normal'], 'no slow request reached the VM');
    await waitFor('the edge to hold no connection', () => te.edge.stats().connections === 0);
  });

  it('a connection that never sends a byte is closed quietly at the deadline', async (t) => {
    const vm = await startBackend(t, 'vm');
    const te = await slowEdge(t, vm.port);
    const idle = slowClient(t, te.edge.httpPort!, () => {});
    await idle.closed;
    assert.equal(idle.text(), '');
    assert.equal(te.logs.filter((l) => l.msg === 'request failed').length, 0);
  });

  it('timeouts.requestHeadersMs applies live', async (t) => {
    const vm = await startBackend(t, 'vm');
    const te = await slowEdge(t, vm.port, { requestHeadersMs: 60_000 });
    const doc = { timeouts: { requestHeadersMs: DEADLINE }, proxies: [{ domain: APP, target: '127.0.0.1', targetPort: vm.port }] };
    te.writeConfig(doc);
    const applied = await te.edge.reload('signal');
    assert.equal(applied.ok, true);
    const s = slowClient(t, te.edge.httpPort!, (sock, i) => { if (i === 1) sock.write(`GET / HTTP/1.1\r\nHost: ${APP}\r\n`); });
    await s.closed;
    assert.match(s.text(), /^HTTP\/1\.1 408 /);
  });
});

describe('TLS handshakes that never finish', () => {
  it(`${SLOW} stalled handshakes are closed after timeouts.tlsHandshakeMs; HTTPS is served meanwhile`, async (t) => {
    const vm = await startBackend(t, 'vm');
    const te = await slowEdge(t, vm.port);
    // Half a ClientHello record header, then silence; or nothing at all.
    const stalled = Array.from({ length: SLOW }, (_v, n) => slowClient(t, te.edge.httpsPort!, (s, i) => {
      if (i === 1 && n % 2 === 0) s.write(Buffer.from([0x16, 0x03, 0x01, 0x02]));
    }));
    await waitFor('every stalled handshake to be connected', () => te.edge.stats().connections >= SLOW);
    const normal = await request(te.edge.httpsPort!, SECURE, { https: true, path: '/normal' });
    assert.equal(normal.status, 200, 'a normal HTTPS request is served while the handshakes are held');
    await Promise.all(stalled.map((s) => s.closed));
    for (const s of stalled) assert.equal(s.text(), '', 'nothing is sent to a client that never finished its handshake');
    await waitFor('a handshake timeout line for each', () =>
      te.logs.filter((l) => l.msg === 'TLS handshake failed' && l.code === 'ERR_TLS_HANDSHAKE_TIMEOUT').length === SLOW);
    await waitFor('the edge to hold no connection', () => te.edge.stats().connections === 0);
  });
});

/** A VM that reads request bodies and records how each ended. */
async function bodyVm(t: TestContext): Promise<{ port: number; aborted(): number; completed(): number[] }> {
  let aborted = 0;
  const completed: number[] = [];
  const server = http.createServer((req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => { n += c.length; });
    req.on('end', () => { completed.push(n); res.end(`got ${n}`); });
    req.on('close', () => { if (!req.complete) aborted++; });
  });
  return { port: await serveOnLoopback(t, server), aborted: () => aborted, completed: () => completed };
}

describe('request bodies that stall', () => {
  it(`${SLOW} stalled uploads get 408 EDGE_ERR_BODY_TIMEOUT, the VM sees each aborted, and normal uploads are served`, async (t) => {
    const vm = await bodyVm(t);
    const te = await slowEdge(t, vm.port);
    const head = `POST /upload HTTP/1.1\r\nHost: ${APP}\r\nContent-Length: 100000\r\n\r\n`;
    const stalled = Array.from({ length: SLOW }, () => slowClient(t, te.edge.httpPort!, (s, i) => {
      if (i === 1) s.write(head + 'x'.repeat(1000));
    }));
    await waitFor('every stalled upload to reach the VM', () => te.edge.stats().inFlight >= SLOW);
    const normal = await request(te.edge.httpPort!, APP, { method: 'POST', path: '/upload', body: 'y'.repeat(5000) });
    assert.equal(normal.status, 200);
    assert.equal(normal.body, 'got 5000');
    await Promise.all(stalled.map((s) => s.closed));
    for (const s of stalled) {
      assert.match(s.text(), /^HTTP\/1\.1 408 /);
      assert.match(s.text(), /x-edge-error: EDGE_ERR_BODY_TIMEOUT/);
    }
    await waitFor('the VM to see every stalled upload aborted', () => vm.aborted() === SLOW);
    const id = /x-request-id: (\S+)/.exec(stalled[0]!.text())![1];
    const line = await logLine(te.logs, 'request failed', { id, code: 'EDGE_ERR_BODY_TIMEOUT' });
    assert.equal(line.level, 30);
    const access = await logLine(te.logs, 'access', { id });
    assert.equal(access.status, 408);
    assert.equal(te.logs.filter((l) => l.msg === 'request failed' && String(l.code).startsWith('EDGE_ERR_UPSTREAM')).length, 0,
      'the aborted VM requests are not reported as VM failures');
    assert.deepEqual(vm.completed(), [5000]);
  });

  it('a body that keeps trickling is not cut: the deadline is between reads, not for the whole body', async (t) => {
    const vm = await bodyVm(t);
    const te = await slowEdge(t, vm.port);
    const total = 30;
    // 30 bytes, one per 50 ms: 1.5 s in all, never idle for the 600 ms deadline.
    const s = slowClient(t, te.edge.httpPort!, (sock, i) => {
      if (i === 1) sock.write(`POST /upload HTTP/1.1\r\nHost: ${APP}\r\nContent-Length: ${total}\r\nConnection: close\r\n\r\n`);
      else if (i <= total + 1) sock.write('z');
    });
    await s.closed;
    assert.match(s.text(), /^HTTP\/1\.1 200 /);
    assert.match(s.text(), new RegExp(`got ${total}$`));
  });
});

describe('idle keep-alive connections', () => {
  it('are closed by the edge after timeouts.keepAliveMs, which the response advertises', async (t) => {
    const vm = await startBackend(t, 'vm');
    const te = await slowEdge(t, vm.port, { keepAliveMs: 200 });
    const s = slowClient(t, te.edge.httpPort!, (sock, i) => { if (i === 1) sock.write(`GET / HTTP/1.1\r\nHost: ${APP}\r\n\r\n`); });
    await s.closed;
    assert.match(s.text(), /^HTTP\/1\.1 200 /);
    assert.match(s.text(), /\r\nKeep-Alive: timeout=\d+\r\n/i);
  });
});

describe('shutdown', () => {
  it('does not wait for TLS handshakes that never finish', async (t) => {
    const vm = await startBackend(t, 'vm');
    const te = await slowEdge(t, vm.port, { tlsHandshakeMs: 60_000 });
    const stalled = slowClient(t, te.edge.httpsPort!, () => {});
    await waitFor('the stalled handshake to be connected', () => te.edge.stats().connections === 1);
    const closing = te.edge.close(100);
    // Well before the 60 s handshake deadline: the edge destroyed it itself.
    await stalled.closed;
    await closing;
    await waitFor('the edge to count it closed', () => te.edge.stats().connections === 0);
  });
});
