/**
 * Malformed and hostile requests: each is refused with the right status and code, or (where the RFC says
 * the bytes are a valid request) served with exactly the framing the edge saw, and never forwarded to a
 * VM where it should not be. Judged by what the client really received and by a recording VM.
 * Node's parser (llhttp, strict) refuses many of these itself; the edge then answers with its own coded
 * reply and a `request failed` line.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { logLine } from '../helpers/fault-vms.ts';
import { request } from '../helpers/net.ts';
import { rawRequest, startRecordingVm, type RawReply, type RecordingVm } from '../helpers/raw.ts';

const APP = 'app.example.com';
const SECURE = 'secure.example.com';

async function edgeFor(t: TestContext, extra: Record<string, unknown> = {}): Promise<{ te: TestEdge; vm: RecordingVm }> {
  const vm = await startRecordingVm(t);
  const te = await startTestEdge(t, { ...extra, proxies: [
    { domain: APP, target: '127.0.0.1', targetPort: vm.port },
    { domain: SECURE, target: '127.0.0.1', targetPort: vm.port, ssl: true },
  ] });
  return { te, vm };
}

function header(reply: RawReply, name: string): string | undefined {
  return new RegExp(`\\r\\n${name}: *([^\\r]*)`, 'i').exec(reply.text)?.[1];
}

/** The edge refused with `status` and `code`, logged it under the reply's request ID, forwarded nothing, and keeps serving. */
async function assertRefused(te: TestEdge, vm: RecordingVm, reply: RawReply, status: number, code: string, logged: 'request failed' | 'access') {
  assert.equal(reply.status, status, reply.text);
  assert.equal(header(reply, 'x-edge-error'), code);
  const id = header(reply, 'x-request-id');
  assert.ok(id, 'the reply names a request ID');
  const line = await logLine(te.logs, logged, { id });
  assert.equal(line.code, code);
  assert.equal(vm.requests.length, 0, `nothing reached the VM: ${vm.rawAll()}`);
  assert.equal((await request(te.edge.httpPort!, APP)).status, 200, 'the edge still serves');
}

const SMUGGLED = 'GET /SMUGGLED HTTP/1.1\r\nHost: app.example.com\r\n\r\n';
const chunk = (s: string) => `${s.length.toString(16)}\r\n${s}\r\n0\r\n\r\n`;
const post = (headers: string, body: string) => `POST /a HTTP/1.1\r\nHost: ${APP}\r\n${headers}\r\n${body}`;

describe('framing the parser refuses: 400 EDGE_ERR_BAD_REQUEST, nothing forwarded', () => {
  const cases: Array<[string, string]> = [
    ['both Content-Length and Transfer-Encoding', post(`Content-Length: ${chunk(SMUGGLED).length}\r\nTransfer-Encoding: chunked\r\n`, chunk(SMUGGLED))],
    ['conflicting Content-Lengths', post(`Content-Length: 5\r\nContent-Length: ${SMUGGLED.length + 5}\r\n`, `hello${SMUGGLED}`)],
    ['a repeated Content-Length', post('Content-Length: 5\r\nContent-Length: 5\r\n', 'hello')],
    ['a Content-Length list', post('Content-Length: 5, 5\r\n', 'hello')],
    ['a signed Content-Length', post('Content-Length: +5\r\n', 'hello')],
    ['Transfer-Encoding: chunked, identity', post('Transfer-Encoding: chunked, identity\r\n', chunk(SMUGGLED))],
    ['Transfer-Encoding: chunked, chunked', post('Transfer-Encoding: chunked, chunked\r\n', chunk(SMUGGLED))],
    ['a second Transfer-Encoding header after chunked', post('Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n', chunk(SMUGGLED))],
    ['a Transfer-Encoding line folded (obs-fold)', post('Transfer-Encoding: identity\r\n chunked\r\n', chunk(SMUGGLED))],
    ['a header line starting with a space', post(' Transfer-Encoding: chunked\r\n', chunk(SMUGGLED))],
    ['a space before the colon', post('Transfer-Encoding : chunked\r\n', chunk(SMUGGLED))],
    ['whitespace after chunked (llhttp is stricter than RFC 9110 5.5 here)', post('Transfer-Encoding: chunked \t\r\n', chunk(SMUGGLED))],
    ['a bad chunk size', post('Transfer-Encoding: chunked\r\n', `5x\r\nhello\r\n0\r\n\r\n${SMUGGLED}`)],
    ['bare LF line endings', `GET / HTTP/1.1\nHost: ${APP}\n\n`],
    ['a control character in Host', `GET / HTTP/1.1\r\nHost: app.example.com\x01evil\r\n\r\n`],
    ['a NUL in the path', `GET /a\x00b HTTP/1.1\r\nHost: ${APP}\r\n\r\n`],
    ['an authority-form target outside CONNECT', `GET app.example.com:80 HTTP/1.1\r\nHost: ${APP}\r\n\r\n`],
  ];
  for (const [what, bytes] of cases) {
    it(what, async (t) => {
      const { te, vm } = await edgeFor(t);
      const reply = await rawRequest(te.edge.httpPort!, bytes);
      await assertRefused(te, vm, reply, 400, 'EDGE_ERR_BAD_REQUEST', 'request failed');
      const line = await logLine(te.logs, 'request failed', { code: 'EDGE_ERR_BAD_REQUEST' });
      assert.equal(line.level, 30, 'a client\'s fault is logged at info, not as a warning');
      assert.match(String(line.err), /not valid HTTP\/1\.1 \(\w/);
    });
  }
});

describe('transfer codings the edge does not forward: 501 EDGE_ERR_NOT_IMPLEMENTED', () => {
  // The parser refuses a request whose last coding is not chunked only after its headers were handed
  // over; the edge refuses it first, before anything is forwarded.
  for (const [what, headers] of [
    ['xchunked', 'Transfer-Encoding: xchunked\r\n'],
    ['gzip, chunked', 'Transfer-Encoding: gzip, chunked\r\n'],
    ['identity, then chunked in a second header', 'Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n'],
  ] as const) {
    it(what, async (t) => {
      const { te, vm } = await edgeFor(t);
      await assertRefused(te, vm, await rawRequest(te.edge.httpPort!, post(headers, chunk(SMUGGLED))), 501, 'EDGE_ERR_NOT_IMPLEMENTED', 'access');
    });
  }
});

describe('whitespace the RFC allows around chunked: served as one chunked request', () => {
  for (const [what, headers] of [
    ['Transfer-Encoding:\\tchunked', 'Transfer-Encoding:\tchunked\r\n'],
    ['Transfer-Encoding:  chunked (two spaces)', 'Transfer-Encoding:  chunked\r\n'],
  ] as const) {
    it(what, async (t) => {
      const { te, vm } = await edgeFor(t);
      const reply = await rawRequest(te.edge.httpPort!, post(headers, chunk(SMUGGLED)));
      assert.equal(reply.status, 200, reply.text);
      assert.deepEqual(vm.requests.map((r) => `${r.method} ${r.url}`), ['POST /a']);
      assert.equal(vm.requests[0]!.body, SMUGGLED, 'the smuggling attempt stayed the body');
    });
  }
});

describe('request targets', () => {
  it('absolute-form is routed by its authority and reaches the VM in origin-form with that Host', async (t) => {
    const { te, vm } = await edgeFor(t);
    const reply = await rawRequest(te.edge.httpPort!, `GET http://${APP}/a/../b?q=1 HTTP/1.1\r\nHost: other.example.com\r\n\r\n`);
    assert.equal(reply.status, 200, reply.text);
    assert.deepEqual(vm.requests.map((r) => [r.url, r.headers.host, r.headers['x-forwarded-host']]), [['/a/../b?q=1', APP, APP]]);
  });

  const refused: Array<[string, string, number, string]> = [
    ['absolute-form naming a host with no route, sent with a routed Host', `GET http://unknown.example.net/ HTTP/1.1\r\nHost: ${APP}\r\n\r\n`, 404, 'EDGE_ERR_NO_ROUTE'],
    ['absolute-form with user information', `GET http://user@${APP}/ HTTP/1.1\r\nHost: ${APP}\r\n\r\n`, 400, 'EDGE_ERR_BAD_TARGET'],
    ['absolute-form with another scheme', `GET ftp://${APP}/ HTTP/1.1\r\nHost: ${APP}\r\n\r\n`, 400, 'EDGE_ERR_BAD_TARGET'],
    ['the asterisk target outside OPTIONS', `GET * HTTP/1.1\r\nHost: ${APP}\r\n\r\n`, 400, 'EDGE_ERR_BAD_TARGET'],
    ['CONNECT to a routed name', `CONNECT ${APP}:443 HTTP/1.1\r\nHost: ${APP}:443\r\n\r\n`, 501, 'EDGE_ERR_NOT_IMPLEMENTED'],
    ['CONNECT to the VM\'s own address', 'CONNECT 127.0.0.1:80 HTTP/1.1\r\nHost: 127.0.0.1:80\r\n\r\n', 501, 'EDGE_ERR_NOT_IMPLEMENTED'],
  ];
  for (const [what, bytes, status, code] of refused) {
    it(`${what}: ${status} ${code}`, async (t) => {
      const { te, vm } = await edgeFor(t);
      const reply = await rawRequest(te.edge.httpPort!, bytes);
      // "GET *" may be refused by the parser itself; either way it is a coded 400 that reached no VM.
      if (what.startsWith('the asterisk') && header(reply, 'x-edge-error') === 'EDGE_ERR_BAD_REQUEST') {
        await assertRefused(te, vm, reply, 400, 'EDGE_ERR_BAD_REQUEST', 'request failed');
        return;
      }
      await assertRefused(te, vm, reply, status, code, 'access');
    });
  }

  it('OPTIONS * is forwarded as it is', async (t) => {
    const { te, vm } = await edgeFor(t);
    const reply = await rawRequest(te.edge.httpPort!, `OPTIONS * HTTP/1.1\r\nHost: ${APP}\r\n\r\n`);
    assert.equal(reply.status, 200, reply.text);
    assert.deepEqual(vm.requests.map((r) => `${r.method} ${r.url}`), ['OPTIONS *']);
  });
});

describe('Host values', () => {
  const cases: Array<[string, string, number, string]> = [
    ['with a slash', 'app.example.com/evil', 400, 'EDGE_ERR_BAD_HOST'],
    ['with user information', 'user@app.example.com', 400, 'EDGE_ERR_BAD_HOST'],
    ['with port 0', 'app.example.com:0', 400, 'EDGE_ERR_BAD_HOST'],
    ['with an unbracketed IPv6 address', '::1', 400, 'EDGE_ERR_BAD_HOST'],
    ['that extends a routed name', 'app.example.com.evil.test', 404, 'EDGE_ERR_NO_ROUTE'],
    ['that is the VM\'s own address', '127.0.0.1', 404, 'EDGE_ERR_NO_ROUTE'],
  ];
  for (const [what, host, status, code] of cases) {
    it(`a Host ${what} (${JSON.stringify(host)}): ${status} ${code}`, async (t) => {
      const { te, vm } = await edgeFor(t);
      await assertRefused(te, vm, await rawRequest(te.edge.httpPort!, `GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`), status, code, 'access');
    });
  }

  it('an HTTP/1.1 request without Host: 400 EDGE_ERR_NO_HOST from the edge, not from Node', async (t) => {
    const { te, vm } = await edgeFor(t);
    await assertRefused(te, vm, await rawRequest(te.edge.httpPort!, 'GET / HTTP/1.1\r\n\r\n'), 400, 'EDGE_ERR_NO_HOST', 'access');
  });
});

describe('Connection naming the forwarding headers', () => {
  it('the VM still gets the edge\'s forwarding headers and request ID, not the client\'s', async (t) => {
    const { te, vm } = await edgeFor(t);
    const reply = await rawRequest(te.edge.httpPort!, `GET / HTTP/1.1\r\nHost: ${APP}\r\n`
      + 'Connection: keep-alive, x-forwarded-for, x-forwarded-proto, x-forwarded-host, x-forwarded-port, forwarded, x-request-id\r\n'
      + 'X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.test\r\nX-Forwarded-Port: 1\r\n'
      + 'Forwarded: for=6.6.6.6\r\nX-Request-Id: forged\r\n\r\n');
    assert.equal(reply.status, 200, reply.text);
    const h = vm.requests[0]!.headers;
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h['x-forwarded-host'], APP);
    assert.equal(h['x-forwarded-port'], String(te.edge.httpPort));
    assert.equal(h.forwarded, `for=127.0.0.1;host=${APP};proto=http`);
    assert.equal(h['x-request-id'], header(reply, 'x-request-id'));
    assert.notEqual(h['x-request-id'], 'forged');
  });
});

describe('path tricks on the ACME challenge path', () => {
  const tricks = [
    '/.well-known/acme-challenge/../admin',
    '/.well-known/acme-challenge/..%2fadmin',
    '/.well-known/acme-challenge/%2e%2e/admin',
    '/.well-known/acme-challenge/%2E%2E%2Fadmin',
    '/.well-known/acme-challenge/token/../../admin',
    '/.well-known/acme-challenge/a/b',
    '/.well-known/acme-challenge/a%2Fb',
    '/.well-known/acme-challenge/a%5cb',
    '/.well-known/acme-challenge/',
  ];
  for (const path of tricks) {
    it(`${path} over plain HTTP to an HTTPS-only route: 400 EDGE_ERR_BAD_TARGET, neither redirected nor forwarded`, async (t) => {
      const { te, vm } = await edgeFor(t);
      const reply = await rawRequest(te.edge.httpPort!, `GET ${path} HTTP/1.1\r\nHost: ${SECURE}\r\n\r\n`);
      await assertRefused(te, vm, reply, 400, 'EDGE_ERR_BAD_TARGET', 'access');
    });
  }

  it('one well-formed token that is not the edge\'s still reaches the VM of an HTTPS-only route (its own ACME client)', async (t) => {
    const { te, vm } = await edgeFor(t);
    const reply = await rawRequest(te.edge.httpPort!, `GET /.well-known/acme-challenge/Abc_123-xyz HTTP/1.1\r\nHost: ${SECURE}\r\n\r\n`);
    assert.equal(reply.status, 200, reply.text);
    assert.deepEqual(vm.requests.map((r) => r.url), ['/.well-known/acme-challenge/Abc_123-xyz']);
  });
});
