/**
 * Request framing and hostile headers: whatever bytes a client sends, the VM must see exactly the requests
 * the edge saw (no request smuggled inside a body), and no single request may take the edge down.
 * Judged by the raw bytes a recording VM received and by what a real parser made of them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startTestEdge } from '../helpers/edge.ts';
import { request } from '../helpers/net.ts';
import { rawRequest, startRecordingVm, type RecordingVm } from '../helpers/raw.ts';

const SMUGGLED = 'GET /SMUGGLED HTTP/1.1\r\nHost: app.example.com\r\nX-Smuggled: 1\r\n\r\n';
const chunked = (body: string) => `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;

async function edgeFor(t: Parameters<typeof startTestEdge>[0], vm: RecordingVm) {
  return startTestEdge(t, { proxies: [
    { domain: 'app.example.com', target: '127.0.0.1', targetPort: vm.port },
    { domain: 'secure.example.com', target: '127.0.0.1', targetPort: vm.port, ssl: true },
  ] });
}

/** The VM parsed exactly one request, for `url`, whose body is the smuggling attempt, and nothing else. */
function assertOneRequestWithBody(vm: RecordingVm, method: string, url: string) {
  assert.deepEqual(vm.requests.map((r) => `${r.method} ${r.url}`), [`${method} ${url}`]);
  assert.equal(vm.requests[0]!.body, SMUGGLED);
  assert.ok(!vm.requests[0]!.headers['x-smuggled']);
  // The bytes on the wire declare the body's length (chunked or Content-Length) in the header block.
  const head = vm.rawAll().split('\r\n\r\n')[0]!.toLowerCase();
  assert.match(head, /\r\n(transfer-encoding: chunked|content-length: \d+)(\r\n|$)/);
}

describe('request framing towards the VM', () => {
  const cases: Array<{ name: string; method: string; bytes: (host: string) => string }> = [
    { name: 'GET with a chunked body', method: 'GET',
      bytes: (h) => `GET /a HTTP/1.1\r\nHost: ${h}\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLED)}` },
    { name: 'DELETE with a chunked body', method: 'DELETE',
      bytes: (h) => `DELETE /a HTTP/1.1\r\nHost: ${h}\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLED)}` },
    { name: 'GET with Content-Length named in Connection', method: 'GET',
      bytes: (h) => `GET /a HTTP/1.1\r\nHost: ${h}\r\nConnection: content-length\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}` },
    { name: 'POST with Transfer-Encoding named in Connection', method: 'POST',
      bytes: (h) => `POST /a HTTP/1.1\r\nHost: ${h}\r\nConnection: keep-alive, transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLED)}` },
    { name: 'DELETE with Content-Length', method: 'DELETE',
      bytes: (h) => `DELETE /a HTTP/1.1\r\nHost: ${h}\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}` },
  ];
  for (const c of cases) {
    it(`${c.name}: the VM sees one framed request`, async (t) => {
      const vm = await startRecordingVm(t);
      const { edge } = await edgeFor(t, vm);
      const reply = await rawRequest(edge.httpPort!, c.bytes('app.example.com'));
      assert.equal(reply.status, 200, reply.text);
      assertOneRequestWithBody(vm, c.method, '/a');
    });
  }

  it('frames bodies over HTTPS the same way', async (t) => {
    const vm = await startRecordingVm(t);
    const { edge } = await edgeFor(t, vm);
    const reply = await rawRequest(edge.httpsPort!, cases[0]!.bytes('secure.example.com'), { tls: true, servername: 'secure.example.com' });
    assert.equal(reply.status, 200, reply.text);
    assertOneRequestWithBody(vm, 'GET', '/a');
  });
});

describe('hostile headers never take the edge down', () => {
  for (const conn of ['close, Host', 'Upgrade, Host', 'keep-alive, host, x-forwarded-for']) {
    for (const overTls of [false, true]) {
      it(`Connection: ${conn} over ${overTls ? 'HTTPS' : 'HTTP'} is served and the edge keeps serving`, async (t) => {
        const vm = await startRecordingVm(t);
        const { edge } = await edgeFor(t, vm);
        const host = overTls ? 'secure.example.com' : 'app.example.com';
        const port = overTls ? edge.httpsPort! : edge.httpPort!;
        const reply = await rawRequest(port, `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: ${conn}\r\n\r\n`,
          { tls: overTls, servername: host });
        assert.equal(reply.status, 200, reply.text);
        // The VM still received the Host the client sent: a client cannot make the edge drop it.
        assert.equal(vm.requests[0]!.headers.host, host);
        assert.equal(vm.requests[0]!.headers['x-forwarded-host'], host);
        const after = await request(edge.httpPort!, 'app.example.com');
        assert.equal(after.status, 200);
      });
    }
  }

  it('refuses two Host headers with 400 and forwards nothing', async (t) => {
    const vm = await startRecordingVm(t);
    const { edge } = await edgeFor(t, vm);
    const reply = await rawRequest(edge.httpPort!, 'GET / HTTP/1.1\r\nHost: app.example.com\r\nHost: other.example.com\r\n\r\n');
    assert.equal(reply.status, 400, reply.text);
    assert.equal(vm.requests.length, 0);
  });

  for (const bad of ['app.example.com:99999', 'app.example.com:', 'app.example.com:80x', 'app.example.com:-1', 'app example.com', '[::1', '']) {
    it(`refuses Host ${JSON.stringify(bad)} with 400 and forwards nothing`, async (t) => {
      const vm = await startRecordingVm(t);
      const { edge } = await edgeFor(t, vm);
      const reply = await rawRequest(edge.httpPort!, `GET / HTTP/1.1\r\nHost: ${bad}\r\n\r\n`);
      assert.equal(reply.status, 400, reply.text);
      assert.equal(vm.requests.length, 0);
    });
  }
});
