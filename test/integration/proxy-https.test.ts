/**
 * HTTPS as a TLS client sees it: the certificate served per SNI, requests and WebSockets over TLS,
 * redirects from HTTP, and upstream HTTPS with and without verification.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { systemClock } from '../../src/clock.ts';
import { makeSelfSigned } from '../../src/tls/selfsigned.ts';
import { makeCa, makeLeaf, writeTemp } from '../helpers/certs.ts';
import { startTestEdge } from '../helpers/edge.ts';
import { echo, openWebSocket, peerCertificate, request, startBackend } from '../helpers/net.ts';

const sans = (c: { subjectaltname?: string }) => (c.subjectaltname ?? '').split(', ').map((s) => s.replace(/^DNS:/, ''));

describe('HTTPS', () => {
  it('serves the certificate of each SNI name: exact, wildcard, then the default', async (t) => {
    const b = await startBackend(t, 'b');
    const { edge } = await startTestEdge(t, {
      vms: [{ name: 'web1', owner: 'user1', ip: '127.0.0.1', port: b.port }],
      proxies: [
        { domain: 'app.example.com', target: '127.0.0.1', targetPort: b.port, ssl: true },
        { domain: '*.user1.example.com', owner: 'user1', ssl: true },
        { domain: 'plain.example.com', target: '127.0.0.1', targetPort: b.port },
      ],
    });
    const port = edge.httpsPort!;
    assert.deepEqual(sans(await peerCertificate(port, 'app.example.com')), ['app.example.com']);
    assert.deepEqual(sans(await peerCertificate(port, 'APP.example.com')), ['app.example.com']);
    assert.deepEqual(sans(await peerCertificate(port, 'web1.user1.example.com')), ['*.user1.example.com']);
    assert.deepEqual(sans(await peerCertificate(port, 'unknown.example.org')), ['idcs-edge.invalid']);
    assert.deepEqual(sans(await peerCertificate(port, undefined)), ['idcs-edge.invalid']);
    // A domain without ssl: true has no certificate of its own.
    assert.deepEqual(sans(await peerCertificate(port, 'plain.example.com')), ['idcs-edge.invalid']);

    const r = await request(port, 'web1.user1.example.com', { https: true });
    assert.equal(r.status, 200);
    assert.deepEqual(sans(r.cert!), ['*.user1.example.com']);
    assert.equal(JSON.parse(r.body).headers['x-forwarded-proto'], 'https');
  });

  it('redirects plain HTTP to HTTPS with 308 but lets ACME challenge paths through', async (t) => {
    const b = await startBackend(t, 'b');
    const { edge } = await startTestEdge(t, { proxies: [{ domain: 'app.example.com', target: '127.0.0.1', targetPort: b.port, ssl: true }] });
    const r = await request(edge.httpPort!, 'app.example.com', { path: '/a/b?c=1', method: 'POST' });
    assert.equal(r.status, 308);
    assert.equal(r.headers.location, `https://app.example.com:${edge.httpsPort}/a/b?c=1`);
    assert.equal(b.requests.length, 0);
    const challenge = await request(edge.httpPort!, 'app.example.com', { path: '/.well-known/acme-challenge/tok' });
    assert.equal(challenge.status, 200);
    assert.equal(JSON.parse(challenge.body).url, '/.well-known/acme-challenge/tok');
  });

  it('proxies WebSockets over TLS', async (t) => {
    const b = await startBackend(t, 'vm');
    const { edge } = await startTestEdge(t, { proxies: [{ domain: 'app.example.com', target: '127.0.0.1', targetPort: b.port, ssl: true }] });
    const ws = await openWebSocket(edge.httpsPort!, 'app.example.com', { https: true });
    assert.equal(await echo(ws, 'secure'), 'vm:https:secure');
    ws.close();
    // ws:// to an HTTPS-only domain is refused with a clear status rather than silently redirected.
    await assert.rejects(openWebSocket(edge.httpPort!, 'app.example.com'), (e: Error & { status?: number }) => e.status === 403);
  });

  it('reuses the self-signed certificate across restarts', async (t) => {
    const b = await startBackend(t, 'b');
    const doc = { proxies: [{ domain: 'app.example.com', target: '127.0.0.1', targetPort: b.port, ssl: true }] };
    const first = await startTestEdge(t, doc);
    const before = await peerCertificate(first.edge.httpsPort!, 'app.example.com');
    await first.edge.close(100);
    const second = await startTestEdge(t, { ...doc, __dir: first.dir });
    const after = await peerCertificate(second.edge.httpsPort!, 'app.example.com');
    assert.equal(after.fingerprint256, before.fingerprint256);
  });
});

describe('uploaded certificates', () => {
  it('serves an uploaded chain, and a plain wildcard with its own uploaded wildcard certificate', async (t) => {
    const b = await startBackend(t, 'b');
    const ca = await makeCa({ cn: 'Upload Test CA' });
    const shop = await makeLeaf({ ca, names: ['shop.example.com'] });
    const wild = await makeLeaf({ ca, names: ['*.static.example.com'] });
    const files = await writeTemp(t, { 'shop.pem': shop.chainPem, 'shop.key': shop.keyPem, 'wild.pem': wild.chainPem, 'wild.key': wild.keyPem });
    const { edge } = await startTestEdge(t, { proxies: [
      { domain: 'shop.example.com', target: '127.0.0.1', targetPort: b.port, ssl: true, certSource: 'upload', certFile: files.path('shop.pem'), keyFile: files.path('shop.key') },
      { domain: '*.static.example.com', target: '127.0.0.1', targetPort: b.port, ssl: true, certSource: 'upload', certFile: files.path('wild.pem'), keyFile: files.path('wild.key') },
    ] });
    const r = await request(edge.httpsPort!, 'shop.example.com', { https: true, ca: ca.certPem });
    assert.equal(r.status, 200, 'the chain verifies against the uploader\'s CA');
    assert.deepEqual(sans(r.cert!), ['shop.example.com']);
    const w = await request(edge.httpsPort!, 'img.static.example.com', { https: true, ca: ca.certPem });
    assert.equal(w.status, 200);
    assert.deepEqual(sans(w.cert!), ['*.static.example.com']);
    assert.equal(JSON.parse(w.body).headers.host, 'img.static.example.com');
  });

  it('refuses to start with an upload that does not fit, naming the proxy and the problem', async (t) => {
    const leaf = await makeLeaf({ names: ['www.example.com'] });
    const other = await makeLeaf({ names: ['shop.example.com'] });
    const files = await writeTemp(t, { 'c.pem': leaf.certPem, 'k.pem': leaf.keyPem, 'other.key': other.keyPem });
    const base = { target: '127.0.0.1', targetPort: 1, ssl: true, certSource: 'upload' };
    await assert.rejects(startTestEdge(t, { proxies: [
      { ...base, domain: 'www.example.com', certFile: files.path('c.pem'), keyFile: files.path('k.pem') },
      { ...base, domain: 'shop.example.com', certFile: files.path('c.pem'), keyFile: files.path('k.pem') },
      { ...base, domain: 'api.example.com', certFile: files.path('c.pem'), keyFile: files.path('other.key') },
    ] }), (e: Error) => /proxies\[1\]\.certFile: the certificate in .* covers www\.example\.com, not shop\.example\.com/.test(e.message)
      && /proxies\[2\]\.certFile: .*(key does not match|does not match)/.test(e.message)
      && !/proxies\[0\]/.test(e.message));
  });
});

describe('upstream HTTPS', () => {
  it('verifies the VM certificate by default (502 that says so), and can trust a CA or skip verification', async (t) => {
    const vmCert = await makeSelfSigned(['vm.internal'], { clock: systemClock, validityDays: 1 });
    const vm = await startBackend(t, 'tlsvm', { tls: { cert: vmCert.certPem, key: vmCert.keyPem } });
    const dir = mkdtempSync(join(tmpdir(), 'edge-upstream-tls-'));
    const caFile = join(dir, 'vm-ca.pem');
    writeFileSync(caFile, vmCert.certPem);
    const { edge, logs } = await startTestEdge(t, { __dir: dir, proxies: [
      { domain: 'strict.example.com', target: '127.0.0.1', targetPort: vm.port, protocol: 'https' },
      { domain: 'skip.example.com', target: '127.0.0.1', targetPort: vm.port, protocol: 'https', upstreamTls: { insecureSkipVerify: true } },
      { domain: 'ca.example.com', target: '127.0.0.1', targetPort: vm.port, protocol: 'https', upstreamTls: { caFile, serverName: 'vm.internal' } },
      { domain: 'wrongname.example.com', target: '127.0.0.1', targetPort: vm.port, protocol: 'https', upstreamTls: { caFile } },
    ] });
    const p = edge.httpPort!;
    const strict = await request(p, 'strict.example.com');
    assert.equal(strict.status, 502);
    assert.equal(strict.headers['x-edge-error'], 'EDGE_ERR_UPSTREAM_TLS');
    assert.match(strict.body, /could not verify the certificate/);
    // The reason is the operator's: in the log line with the request's ID, not on the public page.
    const why = (r: { headers: Record<string, unknown> }) => String(logs.find((l) => l.msg === 'request failed' && l.id === r.headers['x-request-id'])?.err);
    assert.match(why(strict), /certificate .* failed verification/);
    const skip = await request(p, 'skip.example.com');
    assert.equal(skip.status, 200);
    assert.equal(JSON.parse(skip.body).backend, 'tlsvm');
    const ca = await request(p, 'ca.example.com');
    assert.equal(ca.status, 200, ca.body);
    const wrong = await request(p, 'wrongname.example.com');
    assert.equal(wrong.status, 502);
    assert.match(why(wrong), /ERR_TLS_CERT_ALTNAME_INVALID|IP: 127\.0\.0\.1 is not in the cert's list/);
  });

  it('refuses a config whose upstream CA file is unreadable, naming the proxy', async (t) => {
    await assert.rejects(startTestEdge(t, { proxies: [
      { domain: 'x.example.com', target: '127.0.0.1', targetPort: 1, protocol: 'https', upstreamTls: { caFile: '/nonexistent/ca.pem' } },
    ] }), /proxies\[0\]\.upstreamTls\.caFile: cannot use \/nonexistent\/ca\.pem/);
  });
});
