/**
 * HTTPS to a VM: without upstreamTls.serverName the VM's certificate is verified against the client's Host
 * (the name the VM is asked for, also sent as SNI), and a 502 for a certificate that does not verify says
 * what is left to try given what upstreamTls already sets.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeCa, makeLeaf, writeTemp } from '../helpers/certs.ts';
import { startTestEdge } from '../helpers/edge.ts';
import { request, startBackend } from '../helpers/net.ts';

describe('upstream TLS', () => {
  it('verifies against the client\'s Host by default, and the 502 hint follows upstreamTls', async (t) => {
    const ca = await makeCa();
    const other = await makeCa();
    const leaf = await makeLeaf({ ca, names: ['app.example.com'] });
    const vm = await startBackend(t, 'tlsvm', { tls: { cert: leaf.chainPem, key: leaf.keyPem } });
    const files = await writeTemp(t, { 'ca.pem': ca.certPem, 'other.pem': other.certPem });
    const https = { target: '127.0.0.1', targetPort: vm.port, protocol: 'https' };
    const { edge, logs } = await startTestEdge(t, { proxies: [
      { domain: 'app.example.com', ...https, upstreamTls: { caFile: files.path('ca.pem') } },
      { domain: 'named.example.com', ...https, upstreamTls: { caFile: files.path('ca.pem'), serverName: 'app.example.com' } },
      { domain: 'noca.example.com', ...https },
      { domain: 'otherca.example.com', ...https, upstreamTls: { caFile: files.path('other.pem'), serverName: 'app.example.com' } },
      { domain: 'wrongname.example.com', ...https, upstreamTls: { caFile: files.path('ca.pem') } },
      { domain: 'wrongserver.example.com', ...https, upstreamTls: { caFile: files.path('ca.pem'), serverName: 'vm.internal' } },
    ] });
    const p = edge.httpPort!;
    const ok = await request(p, 'app.example.com');
    assert.equal(ok.status, 200, ok.body);
    assert.equal(JSON.parse(ok.body).backend, 'tlsvm');
    assert.equal((await request(p, 'named.example.com')).status, 200);
    const why = async (host: string) => {
      const r = await request(p, host);
      assert.equal(r.status, 502, host);
      assert.equal(r.headers['x-edge-error'], 'EDGE_ERR_UPSTREAM_TLS', host);
      return String(logs.find((l) => l.msg === 'request failed' && l.id === r.headers['x-request-id'])?.err);
    };
    assert.match(await why('noca.example.com'), /failed verification .*; set upstreamTls\.caFile \(the CA that signed it\) or upstreamTls\.insecureSkipVerify/);
    const otherCa = await why('otherca.example.com');
    assert.match(otherCa, /upstreamTls\.caFile \(.*other\.pem\) is set but does not verify it/);
    assert.doesNotMatch(otherCa, /set upstreamTls\.caFile \(/);
    assert.match(await why('wrongname.example.com'), /ERR_TLS_CERT_ALTNAME_INVALID.*does not cover the name the edge verifies \(the client's Host\): set upstreamTls\.serverName/);
    assert.match(await why('wrongserver.example.com'), /does not cover upstreamTls\.serverName \(vm\.internal\)/);
  });
});
