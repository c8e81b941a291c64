/**
 * Request IDs and public error pages as a client and an operator see them: one ID on the response, on the
 * page, in the log and at the VM; pages that never show an upstream address or an inventory fact; the
 * operator's detail on the page only when asked for; a proxy's own page files.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { describe, it } from 'node:test';
import { startTestEdge } from '../helpers/edge.ts';
import { deadPort, request, startBackend, waitFor } from '../helpers/net.ts';

/** A VM that accepts the connection and resets it as soon as the request arrives. */
async function resettingVm(t: { after(fn: () => unknown): void }): Promise<number> {
  const s = net.createServer((c) => c.once('data', () => c.resetAndDestroy()));
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => s.close(r)));
  return (s.address() as net.AddressInfo).port;
}

describe('request IDs', () => {
  it('one ID on the response, at the VM and in the access line; a client\'s own ID only from a trusted proxy', async (t) => {
    const b = await startBackend(t, 'b');
    const { edge, logs } = await startTestEdge(t, { trustedProxies: ['127.0.0.2'],
      proxies: [{ domain: 'a.example.com', target: '127.0.0.1', targetPort: b.port }] });
    const r = await request(edge.httpPort!, 'a.example.com', { headers: { 'x-request-id': 'forged-by-client' } });
    const id = r.headers['x-request-id'] as string;
    assert.match(id, /^[0-9a-f]{12}[0-9a-z]{6,}$/);
    assert.equal(JSON.parse(r.body).headers['x-request-id'], id, 'the VM got the same ID');
    assert.ok(logs.some((l) => l.msg === 'access' && l.id === id));
    const second = await request(edge.httpPort!, 'a.example.com');
    assert.notEqual(second.headers['x-request-id'], id);

    // From a trusted proxy (connecting from 127.0.0.2), its ID is kept end to end.
    const viaProxy = await new Promise<string>((resolve, reject) => {
      const s = net.connect({ port: edge.httpPort!, host: '127.0.0.1', localAddress: '127.0.0.2' }, () => {
        s.write('GET / HTTP/1.1\r\nHost: a.example.com\r\nX-Request-Id: lb-1234\r\nConnection: close\r\n\r\n');
      });
      let data = '';
      s.on('data', (d) => { data += d; });
      s.on('end', () => resolve(data));
      s.on('error', reject);
    });
    assert.match(viaProxy, /\r\nx-request-id: lb-1234\r\n/i);
    assert.equal(b.requests.at(-1)!.headers['x-request-id'], 'lb-1234');
  });
});

describe('public error pages', () => {
  it('never show an upstream address, a TLS reason or an inventory fact; the log line with the same ID has them', async (t) => {
    const dead = await deadPort(t);
    const reset = await resettingVm(t);
    const b = await startBackend(t, 'b');
    const { edge, logs } = await startTestEdge(t, {
      upstream: { timeoutMs: 300 },
      vms: [{ name: 'web1', owner: 'secretowner', ip: '127.0.0.1', port: b.port }],
      proxies: [
        { domain: 'refused.example.com', target: '127.0.0.1', targetPort: dead },
        { domain: 'reset.example.com', target: '127.0.0.1', targetPort: reset },
        { domain: 'slow.example.com', target: '127.0.0.1', targetPort: b.port },
        { domain: 'tls.example.com', target: '127.0.0.1', targetPort: b.port, protocol: 'https' },
        { domain: 'unreachable.example.com', target: 'vm-that-does-not-exist.invalid', targetPort: 80 },
        { domain: '*.users.example.com', owner: 'secretowner' },
      ],
    });
    const cases: Array<[string, string, number, string]> = [
      ['refused.example.com', '/', 502, 'EDGE_ERR_UPSTREAM_REFUSED'],
      ['reset.example.com', '/', 502, 'EDGE_ERR_UPSTREAM_RESET'],
      ['slow.example.com', '/hang', 504, 'EDGE_ERR_UPSTREAM_TIMEOUT'],
      ['tls.example.com', '/', 502, 'EDGE_ERR_UPSTREAM_TLS'],
      ['unreachable.example.com', '/', 502, 'EDGE_ERR_UPSTREAM_UNREACHABLE'],
      ['ghost.users.example.com', '/', 404, 'EDGE_ERR_NO_VM'],
    ];
    const secrets = [String(dead), String(reset), String(b.port), '127.0.0.1', 'vm-that-does-not-exist', 'secretowner', 'web1', 'ERR_SSL', 'ERR_TLS', 'EPROTO', 'ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'wrong version'];
    const unknownHost = await request(edge.httpPort!, 'nobody.example.com', { headers: { accept: 'text/html' } });
    for (const [host, path, status, code] of cases) {
      for (const accept of ['text/html', '*/*']) {
        const r = await request(edge.httpPort!, host, { path, headers: { accept } });
        assert.equal(r.status, status, `${host}: ${r.body}`);
        assert.equal(r.headers['x-edge-error'], code);
        const id = r.headers['x-request-id'] as string;
        assert.ok(r.body.includes(id), 'the page shows the request ID');
        assert.ok(r.body.includes(code), 'the page shows the code');
        for (const s of secrets) assert.ok(!r.body.includes(s), `${host}: the public page leaks ${s}: ${r.body}`);
        const line = await waitFor('the access line', () => logs.find((l) => l.msg === 'access' && l.id === id));
        assert.ok(String(line.err).length > 0, 'the operator gets the detail');
      }
    }
    // An unknown template name reads exactly like an unknown host (the code aside).
    const ghost = await request(edge.httpPort!, 'ghost.users.example.com', { headers: { accept: 'text/html' } });
    const strip = (s: string) => s.replace(/EDGE_ERR_[A-Z_]+/g, '').replace(/request <code>[^<]+<\/code>/, '');
    assert.equal(strip(ghost.body), strip(unknownHost.body));
  });

  it('errorPages.detail: operator puts the detail on the page', async (t) => {
    const dead = await deadPort(t);
    const { edge } = await startTestEdge(t, { errorPages: { detail: 'operator' },
      proxies: [{ domain: 'refused.example.com', target: '127.0.0.1', targetPort: dead }] });
    const r = await request(edge.httpPort!, 'refused.example.com');
    assert.equal(r.status, 502);
    assert.ok(r.body.includes(`http://127.0.0.1:${dead}`), r.body);
  });

  it('a proxy\'s own page file replaces the built-in page for its status, with the placeholders filled in', async (t) => {
    const dead = await deadPort(t);
    const { edge, dir, writeConfig } = await startTestEdge(t, { proxies: [] }, { watch: false });
    const page = `${dir}/502.html`;
    writeFileSync(page, '<h1>Our shop is down</h1><p>{{status}} {{code}} ref {{requestId}}: {{message}}</p>');
    writeConfig({ proxies: [{ domain: 'shop.example.com', target: '127.0.0.1', targetPort: dead, errorPages: { 502: page } }] });
    assert.equal((await edge.reload()).ok, true);
    const r = await request(edge.httpPort!, 'shop.example.com');
    assert.equal(r.status, 502);
    assert.match(r.headers['content-type'] as string, /text\/html/);
    assert.equal(r.body, `<h1>Our shop is down</h1><p>502 EDGE_ERR_UPSTREAM_REFUSED ref ${r.headers['x-request-id']}: The server behind this site refused the connection.</p>`);
    // A page file that cannot be read refuses the config with the proxy's path.
    writeConfig({ proxies: [{ domain: 'shop.example.com', target: '127.0.0.1', targetPort: dead, errorPages: { 502: `${dir}/missing.html` } }] });
    const refused = await edge.reload();
    assert.equal(refused.ok, false);
    assert.deepEqual(refused.issues?.map((i) => i.path), ['proxies[0].errorPages.502']);
  });
});
