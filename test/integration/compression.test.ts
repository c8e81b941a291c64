/**
 * Response compression through the edge: a compressible answer is gzip- or br-encoded when the client asks
 * (and byte-identical after a real zlib decode), streamed chunk by chunk; everything that must not be
 * compressed arrives exactly as the VM sent it.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { startTestEdge } from '../helpers/edge.ts';
import { h2Connect, h2Request } from '../helpers/h2.ts';
import { echo, openWebSocket, startBackend } from '../helpers/net.ts';

type Ctx = { after(fn: () => unknown): void };

const PAGE = Buffer.from(`<!doctype html><title>t</title>${'<p>idcs-edge compresses text on the way out. '.repeat(400)}\n`);
const PNG = Buffer.alloc(20_000, 7);

/** A VM with one path per case. */
async function startVm(t: Ctx): Promise<{ port: number; sent(): { ready: () => void } }> {
  let streamStep: (() => void) | null = null;
  const server = http.createServer((req, res) => {
    const send = (status: number, headers: http.OutgoingHttpHeaders, body?: Buffer) => {
      res.writeHead(status, { ...(body ? { 'content-length': body.length } : {}), ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    switch (req.url) {
      case '/page': return send(200, { 'content-type': 'text/html; charset=utf-8', etag: '"v1"', 'accept-ranges': 'bytes', vary: 'Origin' }, PAGE);
      case '/chunked': res.writeHead(200, { 'content-type': 'application/json' }); res.write(PAGE.subarray(0, 5000)); res.end(PAGE.subarray(5000)); return;
      case '/small': return send(200, { 'content-type': 'text/plain' }, Buffer.from('short'));
      case '/png': return send(200, { 'content-type': 'image/png' }, PNG);
      case '/encoded': return send(200, { 'content-type': 'text/html', 'content-encoding': 'gzip' }, zlib.gzipSync(PAGE));
      case '/no-transform': return send(200, { 'content-type': 'text/html', 'cache-control': 'public, no-transform' }, PAGE);
      case '/range':
        if (req.headers.range) return send(206, { 'content-type': 'text/html', 'content-range': `bytes 0-99/${PAGE.length}` }, PAGE.subarray(0, 100));
        return send(200, { 'content-type': 'text/html' }, PAGE);
      case '/204': return send(204, { 'content-type': 'text/html' });
      case '/304': res.writeHead(304, { etag: '"v1"', 'content-type': 'text/html' }); res.end(); return;
      case '/events':
        // Server-sent events: the second event is sent only once the client has decoded the first.
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.write(`data: ${'first '.repeat(300)}\n\n`);
        streamStep = () => res.end(`data: ${'second '.repeat(300)}\n\n`);
        return;
      default: return send(404, { 'content-type': 'text/plain' }, Buffer.from('no such case'));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { port: (server.address() as AddressInfo).port, sent: () => ({ ready: () => streamStep?.() }) };
}

interface Raw { status: number; headers: http.IncomingHttpHeaders; body: Buffer }

/** A request over HTTPS whose body is returned exactly as it came over the wire (no decoding). */
function get(port: number, host: string, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, agent: false, headers: { host, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

function decode(r: Raw): Buffer {
  const ce = r.headers['content-encoding'];
  return ce === 'gzip' ? zlib.gunzipSync(r.body) : ce === 'br' ? zlib.brotliDecompressSync(r.body) : r.body;
}

describe('compression', () => {
  it('encodes text the client asks for with the coding it prefers, and the decoded bytes are the VM\'s', async (t) => {
    const vm = await startVm(t);
    const { edge } = await startTestEdge(t, { proxies: [{ domain: 'app.example.com', target: '127.0.0.1', targetPort: vm.port }] });
    const port = edge.httpPort!;
    const cases: Array<[string, string | undefined]> = [
      ['gzip', 'gzip'], ['br', 'br'], ['gzip, deflate, br, zstd', 'br'], ['br;q=0.5, gzip', 'gzip'], ['gzip;q=1.0, br;q=0.999', 'gzip'],
      ['*', 'br'], ['x-gzip', 'gzip'], ['gzip;q=0, br;q=0', undefined], ['identity', undefined], ['deflate', undefined],
    ];
    for (const [accept, want] of cases) {
      const r = await get(port, 'app.example.com', '/page', { 'accept-encoding': accept });
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-encoding'], want, accept);
      assert.deepEqual(decode(r), PAGE, `${accept}: the decoded body is the VM's`);
      if (want) {
        assert.ok(r.body.length < PAGE.length / 5, `${accept}: compressed (${r.body.length} of ${PAGE.length} bytes)`);
        assert.equal(r.headers['content-length'], undefined);
        assert.equal(r.headers['accept-ranges'], undefined);
        assert.equal(r.headers.etag, 'W/"v1"', 'the ETag is weak: the bytes differ from the VM\'s');
        assert.equal(r.headers.vary, 'Origin, Accept-Encoding');
      } else {
        assert.equal(r.headers['content-length'], String(PAGE.length));
        assert.equal(r.headers.etag, '"v1"');
      }
    }
    // No Accept-Encoding at all: as the VM sent it.
    const plain = await get(port, 'app.example.com', '/page');
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.deepEqual(plain.body, PAGE);
    // A chunked answer of unknown length is compressed too.
    const chunked = await get(port, 'app.example.com', '/chunked', { 'accept-encoding': 'gzip' });
    assert.equal(chunked.headers['content-encoding'], 'gzip');
    assert.equal(chunked.headers.vary, 'Accept-Encoding');
    assert.deepEqual(decode(chunked), PAGE);
  });

  it('leaves alone what must not be compressed', async (t) => {
    const vm = await startVm(t);
    const ws = await startBackend(t, 'ws');
    const { edge } = await startTestEdge(t, { proxies: [
      { domain: 'app.example.com', target: '127.0.0.1', targetPort: vm.port },
      { domain: 'off.example.com', target: '127.0.0.1', targetPort: vm.port, compression: false },
      { domain: 'ws.example.com', target: '127.0.0.1', targetPort: ws.port },
    ] });
    const port = edge.httpPort!;
    const ask = { 'accept-encoding': 'gzip, br' };
    const untouched: Array<[string, string, Record<string, string>, string, number, Buffer | null]> = [
      ['an image', '/png', ask, 'GET', 200, PNG],
      ['a body under 1 KiB', '/small', ask, 'GET', 200, Buffer.from('short')],
      ['a body the VM encoded', '/encoded', ask, 'GET', 200, zlib.gzipSync(PAGE)],
      ['Cache-Control: no-transform', '/no-transform', ask, 'GET', 200, PAGE],
      ['a Range request', '/range', { ...ask, range: 'bytes=0-99' }, 'GET', 206, PAGE.subarray(0, 100)],
      ['HEAD', '/page', ask, 'HEAD', 200, Buffer.alloc(0)],
      ['204', '/204', ask, 'GET', 204, Buffer.alloc(0)],
      ['304', '/304', { ...ask, 'if-none-match': '"v1"' }, 'GET', 304, Buffer.alloc(0)],
    ];
    for (const [what, path, headers, method, status, body] of untouched) {
      const r = await get(port, 'app.example.com', path, headers, method);
      assert.equal(r.status, status, what);
      assert.equal(r.headers['content-encoding'], path === '/encoded' ? 'gzip' : undefined, what);
      assert.equal(r.headers.vary, path === '/page' ? 'Origin' : undefined, `${what}: no Vary added`);
      if (body) assert.deepEqual(r.body, body, what);
    }
    const head = await get(port, 'app.example.com', '/page', ask, 'HEAD');
    assert.equal(head.headers['content-length'], String(PAGE.length), 'HEAD keeps the VM\'s length');
    const off = await get(port, 'off.example.com', '/page', ask);
    assert.equal(off.headers['content-encoding'], undefined, 'compression: false');
    assert.deepEqual(off.body, PAGE);
    // A WebSocket handshake that says it accepts gzip is an upgrade all the same.
    const sock = await openWebSocket(port, 'ws.example.com');
    t.after(() => sock.terminate());
    assert.equal(await echo(sock, 'hi'), 'ws:http:hi');
  });

  it('streams: each chunk the VM sends arrives decodable at once (server-sent events)', async (t) => {
    const vm = await startVm(t);
    const { edge } = await startTestEdge(t, { proxies: [{ domain: 'app.example.com', target: '127.0.0.1', targetPort: vm.port }] });
    for (const coding of ['gzip', 'br'] as const) {
      const text = await new Promise<string>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: edge.httpPort!, path: '/events', agent: false,
          headers: { host: 'app.example.com', 'accept-encoding': coding } }, (res) => {
          assert.equal(res.headers['content-encoding'], coding);
          const decoder = coding === 'gzip' ? zlib.createGunzip() : zlib.createBrotliDecompress();
          let out = '';
          decoder.on('data', (c: Buffer) => {
            out += c.toString();
            // The first event decoded while the VM still holds the second back: then let it go.
            if (out.includes('first') && !out.includes('second')) vm.sent().ready();
          });
          decoder.on('end', () => resolve(out));
          decoder.on('error', reject);
          res.pipe(decoder);
        });
        req.on('error', reject);
        // Without flushing per chunk the second event would never be sent.
        req.setTimeout(10_000, () => req.destroy(new Error('the first event did not arrive decodable on its own')));
        req.end();
      });
      assert.equal(text, `data: ${'first '.repeat(300)}\n\ndata: ${'second '.repeat(300)}\n\n`);
    }
  });

  it('works over HTTP/2 too', async (t) => {
    const vm = await startVm(t);
    const { edge } = await startTestEdge(t, { proxies: [{ domain: 'app.example.com', target: '127.0.0.1', targetPort: vm.port, ssl: true }] });
    const session = await h2Connect(t, edge.httpsPort!, 'app.example.com');
    const r = await h2Request(session, 'app.example.com', { ':path': '/page', 'accept-encoding': 'br' });
    assert.equal(r.headers['content-encoding'], 'br');
    assert.deepEqual(zlib.brotliDecompressSync(r.body), PAGE);
  });
});
