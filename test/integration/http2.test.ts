/**
 * HTTP/2 to clients on the HTTPS port: an h2 client (node:http2) gets the same answers as an HTTP/1.1 client
 * (bodies both ways, forwarding headers, request IDs, error pages, access lines, metrics), trailers pass,
 * aborted streams are cut on the VM's side too, a WebSocket still upgrades over HTTP/1.1 on the same port,
 * `http2: false` keeps a name on HTTP/1.1, and the inbound limits hold for HTTP/2 sessions.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import tls from 'node:tls';
import { WebSocket, type ClientOptions } from 'ws';
import { startTestEdge } from '../helpers/edge.ts';
import { h2Connect, h2Request } from '../helpers/h2.ts';
import { parseMetrics, sample } from '../helpers/metrics.ts';
import { deadPort, echo, request, startBackend, waitFor } from '../helpers/net.ts';

type Ctx = { after(fn: () => unknown): void };

/** A VM with what the echo backend lacks: chunked answers with trailers, a request's trailers echoed, a slow body. */
async function startTrailerVm(t: Ctx): Promise<{ port: number; closedEarly: () => number }> {
  let closedEarly = 0;
  const server = http.createServer((req, res) => {
    if (req.url === '/trailers') {
      // A HEAD answer has no body, so no chunked coding to carry trailers in.
      const head = req.method === 'HEAD';
      res.writeHead(200, { 'content-type': 'text/plain', ...(head ? {} : { trailer: 'x-checksum' }) });
      res.write('part one, ');
      if (!head) res.addTrailers({ 'x-checksum': 'abc123' });
      res.end('part two');
      return;
    }
    if (req.url === '/request-trailers') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.stringify({ body: Buffer.concat(chunks).toString(), trailers: req.trailers, te: req.headers['transfer-encoding'] ?? null });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }
    if (req.url === '/drip') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write(Buffer.alloc(1000, 1));
      res.on('close', () => { if (!res.writableFinished) closedEarly++; });
      return;
    }
    if (req.url === '/upgrade-header') {
      // Apache sends this on plain answers; HTTP/2 forbids it (and node:http2 would throw on it).
      res.writeHead(200, { 'content-type': 'text/plain', upgrade: 'h2c', connection: 'Upgrade', 'keep-alive': 'timeout=5' });
      res.end('fine');
      return;
    }
    req.on('close', () => { if (!res.writableFinished) closedEarly++; });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { port: (server.address() as AddressInfo).port, closedEarly: () => closedEarly };
}

function alpnOf(port: number, servername: string, protocols: string[]): Promise<string | false> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, ALPNProtocols: protocols, rejectUnauthorized: false }, () => {
      resolve(s.alpnProtocol ?? false);
      s.destroy();
    });
    s.on('error', reject);
  });
}

/** What the echo backend says it received: the request as the VM saw it. */
type Seen = { method: string; url: string; headers: Record<string, string>; body: string };

describe('HTTP/2', () => {
  it('an h2 client gets the same answers as an HTTP/1.1 client, on the same port', async (t) => {
    const vm = await startBackend(t, 'vm');
    const refused = await deadPort(t);
    const { edge, logs } = await startTestEdge(t, {
      proxies: [
        { domain: 'app.example.com', target: '127.0.0.1', targetPort: vm.port, ssl: true },
        { domain: 'down.example.com', target: '127.0.0.1', targetPort: refused, ssl: true },
      ],
    });
    const port = edge.httpsPort!;
    assert.equal(await alpnOf(port, 'app.example.com', ['h2', 'http/1.1']), 'h2');
    assert.equal(await alpnOf(port, 'app.example.com', ['http/1.1']), 'http/1.1');
    const session = await h2Connect(t, port, 'app.example.com');

    const upload = 'x'.repeat(200_000);
    const cases: Array<{ name: string; host: string; path: string; method: string; body?: string }> = [
      { name: 'GET with a query', host: 'app.example.com', path: '/a/b?c=1&d=%20', method: 'GET' },
      { name: 'POST with a 200 KB body', host: 'app.example.com', path: '/upload', method: 'POST', body: upload },
      { name: 'PUT with an empty body', host: 'app.example.com', path: '/empty', method: 'PUT', body: '' },
      { name: 'no such host', host: 'nowhere.example.com', path: '/', method: 'GET' },
      { name: 'a VM that refuses', host: 'down.example.com', path: '/', method: 'GET' },
    ];
    for (const c of cases) {
      const h1 = await request(port, c.host, { https: true, path: c.path, method: c.method,
        ...(c.body !== undefined ? { body: c.body, headers: { 'content-length': String(Buffer.byteLength(c.body)) } } : {}) });
      const h2 = await h2Request(session, c.host, { ':method': c.method, ':path': c.path }, c.body !== undefined ? { body: c.body } : {});
      assert.equal(h2.rstCode, null, c.name);
      assert.equal(h2.status, h1.status, c.name);
      for (const name of ['content-type', 'x-edge-error', 'x-backend', 'cache-control']) {
        assert.equal(h2.headers[name], h1.headers[name], `${c.name}: ${name}`);
      }
      assert.match(String(h2.headers['x-request-id']), /^[0-9a-f-]{10,}/, `${c.name}: a request ID`);
      if (h1.headers['x-backend'] === undefined) {
        // The edge's own page: the same words, another request ID.
        assert.equal(h2.body.toString().replace(String(h2.headers['x-request-id']), 'ID'), h1.body.replace(String(h1.headers['x-request-id']), 'ID'), c.name);
        continue;
      }
      const seen1 = JSON.parse(h1.body) as Seen;
      const seen2 = JSON.parse(h2.body.toString()) as Seen;
      assert.equal(seen2.method, seen1.method, c.name);
      assert.equal(seen2.url, seen1.url, c.name);
      assert.equal(seen2.body, seen1.body, c.name);
      // What the VM was told: the same forwarding headers, no pseudo-header, the ID the client was given.
      for (const name of ['host', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'forwarded']) {
        assert.equal(seen2.headers[name], seen1.headers[name], `${c.name}: the VM's ${name}`);
      }
      assert.ok(!Object.keys(seen2.headers).some((k) => k.startsWith(':')), `${c.name}: no pseudo-header reaches the VM`);
      assert.equal(seen2.headers['x-request-id'], h2.headers['x-request-id']);
      if (c.body) {
        // A body without Content-Length is framed for the VM (chunked) and arrives whole.
        assert.equal(seen2.headers['transfer-encoding'], 'chunked', c.name);
      }
    }
    // RFC 9113 8.3.1: a Host that names another authority than :authority makes the request malformed.
    const mismatch = await h2Request(session, 'app.example.com', { ':path': '/', host: 'down.example.com' });
    assert.equal(mismatch.status, 400);
    assert.equal(mismatch.headers['x-edge-error'], 'EDGE_ERR_BAD_HOST');
    assert.ok(logs.some((l) => l.msg === 'access' && l.code === 'EDGE_ERR_BAD_HOST' && /differs from its :authority/.test(String(l.err))));
    // CONNECT over HTTP/2 (no :path) is refused as over HTTP/1.1.
    const connect = await h2Request(session, 'example.org:443', { ':method': 'CONNECT' }, { body: '' });
    assert.equal(connect.status, 501);
    assert.equal(connect.headers['x-edge-error'], 'EDGE_ERR_NOT_IMPLEMENTED');
    // Cookies HTTP/2 sends as separate fields reach the VM as one header (RFC 9113 8.2.3).
    const cookie = await h2Request(session, 'app.example.com', { ':path': '/c', cookie: ['a=1', 'b=2'] });
    assert.equal((JSON.parse(cookie.body.toString()) as Seen).headers.cookie, 'a=1; b=2');

    // One access line per request, the same fields for both; HTTP/2 lines say so.
    const access = await waitFor('the access lines', () => {
      const lines = logs.filter((l) => l.msg === 'access');
      return lines.length >= cases.length * 2 + 3 ? lines : null;
    });
    const h2Lines = access.filter((l) => l.http === '2');
    assert.equal(h2Lines.length, cases.length + 3);
    const upload2 = h2Lines.find((l) => l.path === '/upload')!;
    const upload1 = access.find((l) => l.path === '/upload' && l.http === undefined)!;
    assert.deepEqual(Object.keys(upload2).filter((k) => k !== 'http').sort(), Object.keys(upload1).sort());
    assert.equal(upload2.status, 200);
    assert.equal(upload2.host, 'app.example.com');
    const failed = h2Lines.find((l) => l.host === 'down.example.com')!;
    assert.equal(failed.code, 'EDGE_ERR_UPSTREAM_REFUSED');
    assert.ok(logs.some((l) => l.msg === 'request failed' && l.id === failed.id && l.code === 'EDGE_ERR_UPSTREAM_REFUSED'));

    // Metrics count HTTP/2 requests like any other: 3 requests to app.example.com each way, plus the cookie one.
    const samples = parseMetrics(await edge.observer.metrics.text());
    assert.equal(sample(samples, 'idcs_edge_http_requests_total', { proxy: 'app.example.com', vm: '-', status_class: '2xx' }), 7);
  });

  it('trailers pass both ways, connection headers are dropped, and HEAD has no body', async (t) => {
    const vm = await startTrailerVm(t);
    const { edge } = await startTestEdge(t, { proxies: [{ domain: 'app.example.com', target: '127.0.0.1', targetPort: vm.port, ssl: true }] });
    const session = await h2Connect(t, edge.httpsPort!, 'app.example.com');
    const r = await h2Request(session, 'app.example.com', { ':path': '/trailers' });
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'part one, part two');
    assert.equal(r.trailers?.['x-checksum'], 'abc123');

    const sent = await h2Request(session, 'app.example.com', { ':method': 'POST', ':path': '/request-trailers' },
      { body: 'payload', trailers: { 'x-digest': 'd1' } });
    assert.deepEqual(JSON.parse(sent.body.toString()), { body: 'payload', trailers: { 'x-digest': 'd1' }, te: 'chunked' });

    const plain = await h2Request(session, 'app.example.com', { ':path': '/upgrade-header' });
    assert.equal(plain.status, 200);
    assert.equal(plain.body.toString(), 'fine');
    assert.equal(plain.headers.upgrade, undefined);

    const head = await h2Request(session, 'app.example.com', { ':method': 'HEAD', ':path': '/trailers' });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
  });

  it('a stream the client resets is cut on the VM side and logged 499; the session serves on', async (t) => {
    const vm = await startTrailerVm(t);
    const { edge, logs } = await startTestEdge(t, { proxies: [{ domain: 'app.example.com', target: '127.0.0.1', targetPort: vm.port, ssl: true }] });
    const session = await h2Connect(t, edge.httpsPort!, 'app.example.com');
    // Reset while the edge waits for the VM's answer, and midway through a body.
    const waiting = session.request({ ':authority': 'app.example.com', ':path': '/hang' });
    waiting.on('error', () => {});
    await waitFor('the request to reach the edge', () => edge.inFlight() === 1);
    waiting.close(http2.constants.NGHTTP2_CANCEL);
    const dripping = session.request({ ':authority': 'app.example.com', ':path': '/drip' });
    dripping.on('error', () => {});
    await new Promise<void>((r) => dripping.once('data', () => r()));
    dripping.close(http2.constants.NGHTTP2_CANCEL);
    await waitFor('the VM to see both requests cut', () => vm.closedEarly() === 2);
    await waitFor('nothing in flight', () => edge.inFlight() === 0);
    const lines = logs.filter((l) => l.msg === 'access');
    assert.deepEqual(lines.map((l) => [l.path, l.status, l.aborted]).sort(), [['/drip', 200, true], ['/hang', 499, true]]);
    const after = await h2Request(session, 'app.example.com', { ':path': '/trailers' });
    assert.equal(after.status, 200);
  });

  it('a WebSocket upgrades over HTTP/1.1 on the HTTP/2 port', async (t) => {
    const vm = await startBackend(t, 'vm');
    const { edge } = await startTestEdge(t, { proxies: [{ domain: 'app.example.com', target: '127.0.0.1', targetPort: vm.port, ssl: true }] });
    // A browser offers only http/1.1 for a WebSocket; this client offers both and still gets HTTP/1.1 for it.
    for (const protocols of [['http/1.1'], ['h2', 'http/1.1']]) {
      // ws hands the TLS options (ALPN included) to tls.connect; its types do not list them.
      const tlsOptions = { servername: 'app.example.com', rejectUnauthorized: false, ALPNProtocols: protocols };
      const ws = new WebSocket(`wss://127.0.0.1:${edge.httpsPort}/`, { headers: { host: 'app.example.com' }, ...tlsOptions } as ClientOptions);
      t.after(() => ws.terminate());
      const open = await new Promise<boolean>((resolve) => { ws.once('open', () => resolve(true)); ws.once('error', () => resolve(false)); });
      if (protocols.includes('h2')) {
        // With h2 agreed, an HTTP/1.1 upgrade on that connection cannot work: clients that offer h2 use a
        // new HTTP/1.1 connection for WebSockets (RFC 8441 extended CONNECT is not offered).
        assert.equal(open, false);
        continue;
      }
      assert.equal(open, true);
      assert.equal(await echo(ws, 'hello'), 'vm:https:hello');
      ws.close();
    }
  });

  it('http2: false keeps a name on HTTP/1.1, and a request for it on another name\'s HTTP/2 connection gets 421', async (t) => {
    const vm = await startBackend(t, 'vm');
    const { edge } = await startTestEdge(t, {
      proxies: [
        { domain: 'app.example.com', target: '127.0.0.1', targetPort: vm.port, ssl: true },
        { domain: 'old.example.com', target: '127.0.0.1', targetPort: vm.port, ssl: true, http2: false },
      ],
    });
    const port = edge.httpsPort!;
    assert.equal(await alpnOf(port, 'old.example.com', ['h2', 'http/1.1']), 'http/1.1');
    assert.equal(await alpnOf(port, 'app.example.com', ['h2', 'http/1.1']), 'h2');
    assert.equal((await request(port, 'old.example.com', { https: true })).status, 200);
    const session = await h2Connect(t, port, 'app.example.com');
    const r = await h2Request(session, 'old.example.com', { ':path': '/' });
    assert.equal(r.status, 421);
    assert.equal(r.headers['x-edge-error'], 'EDGE_ERR_MISDIRECTED');
  });

  it('shutdown: HTTP/2 sessions get GOAWAY and a request in flight is answered', async (t) => {
    const vm = await startBackend(t, 'vm');
    const { edge } = await startTestEdge(t, { proxies: [{ domain: 'app.example.com', target: '127.0.0.1', targetPort: vm.port, ssl: true }] });
    const session = await h2Connect(t, edge.httpsPort!, 'app.example.com');
    const goaway = new Promise<number>((r) => session.once('goaway', (code: number) => r(code)));
    const slow = h2Request(session, 'app.example.com', { ':path': '/slow?ms=400' });
    await waitFor('the request to reach the VM', () => vm.requests.length === 1);
    const closed = edge.close(3000);
    assert.equal(await goaway, http2.constants.NGHTTP2_NO_ERROR);
    const r = await slow;
    assert.equal(r.status, 200);
    assert.equal((JSON.parse(r.body.toString()) as Seen).url, '/slow?ms=400');
    await closed;
  });

  it('limits: streams and header list advertised, oversized headers reset, idle and silent sessions closed, stalled bodies 408', async (t) => {
    const vm = await startBackend(t, 'vm');
    const { edge, logs } = await startTestEdge(t, {
      proxies: [{ domain: 'app.example.com', target: '127.0.0.1', targetPort: vm.port, ssl: true }],
      limits: { maxConcurrentStreams: 7, maxHeaderBytes: 4096, maxConnectionsPerClient: 3 },
      timeouts: { keepAliveMs: 400, requestHeadersMs: 600, requestBodyIdleMs: 300 },
    });
    const port = edge.httpsPort!;
    const session = await h2Connect(t, port, 'app.example.com');
    await waitFor('the edge\'s SETTINGS', () => session.remoteSettings.maxConcurrentStreams === 7);
    assert.equal(session.remoteSettings.maxHeaderListSize, 4096);

    const small = await h2Request(session, 'app.example.com', { ':path': '/', 'x-fill': 'a'.repeat(3000) });
    assert.equal(small.status, 200);
    const big = await h2Request(session, 'app.example.com', { ':path': '/big', 'x-fill': 'a'.repeat(6000) });
    assert.equal(big.status, 0);
    assert.ok(big.rstCode !== null, 'the oversized header list is refused with RST_STREAM');
    assert.ok(!vm.requests.some((r) => r.url === '/big'), 'nothing reached the VM');

    // A body that stops arriving: 408 on that stream; another stream of the session is served meanwhile.
    const stalled = session.request({ ':authority': 'app.example.com', ':method': 'POST', ':path': '/stall' }, { endStream: false });
    stalled.on('error', () => {});
    stalled.write('start');
    const status = await new Promise<number>((r) => stalled.once('response', (h) => r(Number(h[':status']))));
    assert.equal(status, 408);
    assert.ok(logs.some((l) => l.msg === 'request failed' && l.code === 'EDGE_ERR_BODY_TIMEOUT'));
    assert.equal((await h2Request(session, 'app.example.com', { ':path': '/' })).status, 200);

    // Idle for timeouts.keepAliveMs with no stream open: GOAWAY, closed.
    await waitFor('the idle session to be closed', () => session.closed || session.destroyed, 5000);

    // A session that never asks for anything is closed at timeouts.requestHeadersMs; one that never
    // acknowledges the edge's SETTINGS gets GOAWAY SETTINGS_TIMEOUT.
    const silent = await h2Connect(t, port, 'app.example.com');
    await waitFor('the silent session to be closed', () => silent.closed || silent.destroyed, 5000);
    const goaway = await rawSessionWithoutAck(port);
    assert.equal(goaway, http2.constants.NGHTTP2_SETTINGS_TIMEOUT);

    // Connections per client count HTTP/2 sessions too: three open, the fourth is closed before its handshake.
    const open = await Promise.all([1, 2, 3].map(() => h2Connect(t, port, 'app.example.com')));
    await assert.rejects(h2Connect(t, port, 'app.example.com'));
    for (const s of open) s.destroy();
  });
});

/** Speaks just enough HTTP/2 to never acknowledge the server's SETTINGS; resolves to the GOAWAY's error code. */
function rawSessionWithoutAck(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'app.example.com', ALPNProtocols: ['h2'], rejectUnauthorized: false }, () => {
      // The client preface and an empty SETTINGS frame (RFC 9113 3.4, 6.5); no ACK follows.
      s.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]));
    });
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (let at = 0; at + 9 <= buf.length;) {
        const len = buf.readUIntBE(at, 3);
        if (at + 9 + len > buf.length) break;
        if (buf[at + 3] === 7) { resolve(buf.readUInt32BE(at + 9 + 4)); s.destroy(); return; }
        at += 9 + len;
      }
    });
    s.on('error', reject);
    s.on('close', () => reject(new Error('closed without GOAWAY')));
  });
}
