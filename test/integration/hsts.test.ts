/**
 * Strict-Transport-Security: sent over HTTPS by proxies whose certificate browsers trust (upload,
 * letsencrypt) unless turned off, not by self-signed ones unless turned on, never over plain HTTP; the
 * edge's value replaces the VM's, and the edge's own error pages carry it too.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateConfig } from '../../src/config/load.ts';
import { hstsHeaderOf } from '../../src/proxy/hsts.ts';
import { makeLeaf, writeTemp } from '../helpers/certs.ts';
import { startTestEdge } from '../helpers/edge.ts';
import { deadPort, request, startBackend } from '../helpers/net.ts';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

describe('HSTS', () => {
  it('is present or absent per proxy as configured, over HTTPS only', async (t) => {
    const vm = await startBackend(t, 'vm');
    // A VM that sends its own header (as many frameworks do).
    const own = http.createServer((_req, res) => { res.writeHead(200, { 'strict-transport-security': 'max-age=60' }); res.end('own'); });
    await new Promise<void>((r) => own.listen(0, '127.0.0.1', r));
    t.after(() => new Promise<void>((r) => { own.closeAllConnections(); own.close(() => r()); }));
    const ownPort = (own.address() as AddressInfo).port;
    const names = ['shop.example.com', 'off.example.com', 'vmown.example.com', 'vmkeep.example.com', 'down.example.com'];
    const leaf = await makeLeaf({ names });
    const files = await writeTemp(t, { 'c.pem': leaf.certPem, 'k.pem': leaf.keyPem });
    const upload = { ssl: true, certSource: 'upload', certFile: files.path('c.pem'), keyFile: files.path('k.pem') };
    const { edge } = await startTestEdge(t, { proxies: [
      { domain: 'self.example.com', target: '127.0.0.1', targetPort: vm.port, ssl: true },
      { domain: 'selfon.example.com', target: '127.0.0.1', targetPort: vm.port, ssl: true, hsts: true },
      { domain: 'custom.example.com', target: '127.0.0.1', targetPort: vm.port, ssl: true, hsts: { maxAge: 600, includeSubDomains: true } },
      { domain: 'shop.example.com', target: '127.0.0.1', targetPort: vm.port, ...upload },
      { domain: 'off.example.com', target: '127.0.0.1', targetPort: vm.port, ...upload, hsts: false },
      { domain: 'vmown.example.com', target: '127.0.0.1', targetPort: ownPort, ...upload },
      { domain: 'vmkeep.example.com', target: '127.0.0.1', targetPort: ownPort, ...upload, hsts: false },
      { domain: 'down.example.com', target: '127.0.0.1', targetPort: await deadPort(t), ...upload },
      { domain: 'plain.example.com', target: '127.0.0.1', targetPort: vm.port },
    ] });
    const expect: Array<[string, string | undefined]> = [
      ['self.example.com', undefined],
      ['selfon.example.com', 'max-age=31536000'],
      ['custom.example.com', 'max-age=600; includeSubDomains'],
      ['shop.example.com', 'max-age=31536000'],
      ['off.example.com', undefined],
      ['vmown.example.com', 'max-age=31536000'],
      ['vmkeep.example.com', 'max-age=60'],
      ['down.example.com', 'max-age=31536000'],
    ];
    for (const [host, want] of expect) {
      const r = await request(edge.httpsPort!, host, { https: true });
      assert.equal(r.headers['strict-transport-security'], want, host);
    }
    assert.equal((await request(edge.httpsPort!, 'down.example.com', { https: true })).status, 502, 'the edge\'s own page');
    // Plain HTTP never carries it (RFC 6797 7.2): the redirect of an ssl proxy, and a plain proxy.
    const redirect = await request(edge.httpPort!, 'shop.example.com');
    assert.equal(redirect.status, 308);
    assert.equal(redirect.headers['strict-transport-security'], undefined);
    assert.equal((await request(edge.httpPort!, 'plain.example.com')).headers['strict-transport-security'], undefined);
  });

  it('defaults by certificate source, and refuses settings that cannot work', () => {
    const p = (extra: Record<string, unknown>) => ({ ssl: true, certSource: 'self-signed' as const, ...extra });
    assert.equal(hstsHeaderOf(p({})), null);
    assert.equal(hstsHeaderOf(p({ certSource: 'letsencrypt' })), 'max-age=31536000');
    assert.equal(hstsHeaderOf(p({ certSource: 'upload' })), 'max-age=31536000');
    assert.equal(hstsHeaderOf(p({ certSource: 'letsencrypt', hsts: false })), null);
    assert.equal(hstsHeaderOf(p({ hsts: { maxAge: 63072000, includeSubDomains: true, preload: true } })), 'max-age=63072000; includeSubDomains; preload');
    assert.equal(hstsHeaderOf({ ssl: false, certSource: 'letsencrypt' }), null);
    const proxy = (extra: Record<string, unknown>) => ({ proxies: [{ domain: 'a.example.com', target: '10.0.0.5', ...extra }] });
    assert.throws(() => validateConfig(proxy({ hsts: true })), /proxies\[0\].*hsts: hsts only applies with ssl: true/);
    assert.throws(() => validateConfig(proxy({ ssl: true, hsts: { preload: true } })), /preload needs includeSubDomains: true/);
    assert.throws(() => validateConfig(proxy({ ssl: true, hsts: { maxAge: -1 } })), /maxAge/);
    assert.doesNotThrow(() => validateConfig(proxy({ hsts: false })));
  });
});
