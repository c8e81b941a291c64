import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyForwardingHeaders, compileTrustedProxies } from '../../src/proxy/forwarded.ts';
import { forwardableResponseHeaders, stripHopByHop } from '../../src/proxy/hop.ts';

describe('trusted proxies', () => {
  const t = compileTrustedProxies(['10.0.0.0/8', '192.168.1.5', '::1/128', 'fd00::/8']);
  const cases: Array<[string | undefined, boolean]> = [
    ['10.1.2.3', true], ['11.0.0.1', false], ['192.168.1.5', true], ['192.168.1.6', false],
    ['::ffff:10.9.9.9', true], ['::1', true], ['fd12::1', true], ['2001:db8::1', false], [undefined, false],
  ];
  for (const [ip, want] of cases) it(`${ip} -> ${want}`, () => assert.equal(t.isTrusted(ip), want));
  it('an empty list trusts nobody', () => assert.equal(compileTrustedProxies([]).isTrusted('127.0.0.1'), false));
});

describe('forwarding headers', () => {
  const forged = { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.test', 'x-forwarded-port': '1', forwarded: 'for=6.6.6.6', 'x-real-ip': '6.6.6.6' };
  it('drops what an untrusted peer sent and sets the edge\'s own view', () => {
    const h: Record<string, string | string[] | undefined> = { ...forged, host: 'app.example.com' };
    applyForwardingHeaders(h, { peer: '::ffff:203.0.113.7', trusted: false, proto: 'http', host: 'app.example.com', port: 80 });
    assert.equal(h['x-forwarded-for'], '203.0.113.7');
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h['x-forwarded-host'], 'app.example.com');
    assert.equal(h['x-forwarded-port'], '80');
    assert.equal(h['forwarded'], 'for=203.0.113.7;host=app.example.com;proto=http');
    assert.equal(h['x-real-ip'], undefined);
  });
  it('appends to what a trusted peer sent', () => {
    const h: Record<string, string | string[] | undefined> = { ...forged };
    applyForwardingHeaders(h, { peer: '10.0.0.2', trusted: true, proto: 'http', host: 'app.example.com:8080', port: 8080 });
    assert.equal(h['x-forwarded-for'], '6.6.6.6, 10.0.0.2');
    assert.equal(h['x-forwarded-proto'], 'https');
    assert.equal(h['x-forwarded-host'], 'evil.test');
    assert.equal(h['forwarded'], 'for=6.6.6.6, for=10.0.0.2;host="app.example.com:8080";proto=http');
  });
  it('brackets and quotes IPv6 in Forwarded (RFC 7239 6)', () => {
    const h: Record<string, string | string[] | undefined> = {};
    applyForwardingHeaders(h, { peer: '2001:db8::1', trusted: false, proto: 'https', host: 'a.example.com', port: 443 });
    assert.equal(h['forwarded'], 'for="[2001:db8::1]";host=a.example.com;proto=https');
  });
});

describe('hop-by-hop headers (RFC 9110 7.6.1)', () => {
  it('removes connection-scoped headers, and those Connection names, from a request', () => {
    const h: Record<string, string | string[] | undefined> = {
      connection: 'close, X-Secret-Hop', 'x-secret-hop': '1', 'keep-alive': 'timeout=5', 'proxy-connection': 'keep-alive',
      te: 'gzip', upgrade: 'h2c', 'transfer-encoding': 'chunked', accept: '*/*',
    };
    assert.equal(stripHopByHop(h, false), 'close, X-Secret-Hop');
    // The body's framing survives: the request arrived chunked, so it leaves chunked.
    assert.deepEqual(h, { accept: '*/*', 'transfer-encoding': 'chunked' });
  });
  it('never drops framing, Host or forwarding headers because the client named them in Connection', () => {
    const h: Record<string, string | string[] | undefined> = {
      connection: 'close, Host, Content-Length, X-Forwarded-For, X-Request-Id', host: 'a.example.com', 'content-length': '5',
      'x-forwarded-for': '1.2.3.4', 'x-request-id': 'r1',
    };
    stripHopByHop(h, false);
    assert.deepEqual(h, { host: 'a.example.com', 'content-length': '5', 'x-forwarded-for': '1.2.3.4', 'x-request-id': 'r1' });
  });
  it('keeps TE: trailers and the WebSocket upgrade headers', () => {
    const h: Record<string, string | string[] | undefined> = { connection: 'Upgrade', upgrade: 'websocket', te: 'trailers' };
    stripHopByHop(h, true);
    assert.deepEqual(h, { connection: 'Upgrade', upgrade: 'websocket', te: 'trailers' });
  });
  it('leaves them out of a response, keeping case and repeated headers', () => {
    const raw = ['Content-Type', 'text/plain', 'Connection', 'close, X-Hop', 'X-Hop', 'a', 'Keep-Alive', 'timeout=5',
      'Transfer-Encoding', 'chunked', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'];
    assert.deepEqual(forwardableResponseHeaders(raw), ['Content-Type', 'text/plain', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2']);
    assert.deepEqual(forwardableResponseHeaders(['content-length', '3']), ['content-length', '3']);
  });
});
