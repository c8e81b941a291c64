/**
 * /metrics after real traffic: HTTP (keep-alive), HTTPS, a WebSocket, a 502 and an unknown host, each
 * counted exactly, bytes equal to what the clients' own sockets wrote and read; TLS handshakes, open
 * connections and WebSockets, config applies, certificate expiry and renewals; the token is required.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { adminClientOf } from '../helpers/admin.ts';
import { startTestEdge } from '../helpers/edge.ts';
import { exchange, parseMetrics, sample, webSocketSession } from '../helpers/metrics.ts';
import { deadPort, request, startBackend, waitFor } from '../helpers/net.ts';

type Ctx = { after(fn: () => unknown): void };

/** Two VMs on one address (so a fixed target there is no single VM's), a template over them, a dead VM. */
async function edge(t: Ctx) {
  const [b1, b2] = [await startBackend(t, 'web1'), await startBackend(t, 'web2')];
  const dead = await deadPort(t);
  const te = await startTestEdge(t, {
    admin: { listen: '127.0.0.1:0' },
    vms: [{ name: 'web1', owner: 'user1', ip: '127.0.0.1', port: b1.port }, { name: 'web2', owner: 'user1', ip: '127.0.0.1', port: b2.port }],
    proxies: [
      { domain: 'a.example.com', target: '127.0.0.1', targetPort: b1.port },
      { domain: 's.example.com', target: '127.0.0.1', targetPort: b2.port, ssl: true },
      { domain: 'dead.example.com', target: '127.0.0.1', targetPort: dead },
      { domain: '*.user1.example.com', owner: 'user1' },
    ],
  });
  const api = adminClientOf(te.edge.admin);
  const scrape = async () => {
    const r = await api.call('GET', '/metrics');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return parseMetrics(String(r.body));
  };
  return { ...te, api, scrape };
}

describe('metrics', () => {
  it('count every request, byte, handshake, connection and WebSocket exactly', async (t) => {
    const e = await edge(t);
    const { httpPort, httpsPort } = e.edge;
    const plain = await exchange(httpPort!, 'a.example.com', [{ path: '/one' }, { path: '/two', method: 'POST', body: 'x'.repeat(5000) }, { path: '/three' }]);
    const secure = await exchange(httpsPort!, 's.example.com', [{ path: '/' }, { path: '/again' }], { https: true });
    const secure2 = await exchange(httpsPort!, 's.example.com', [{ path: '/other-connection' }], { https: true });
    const dead = await exchange(httpPort!, 'dead.example.com', [{ path: '/' }]);
    const unknown = await exchange(httpPort!, 'nobody.example.com', [{ path: '/' }]);
    const vm = await exchange(httpPort!, 'web1.user1.example.com', [{ path: '/vm' }]);
    const ws = await webSocketSession(httpPort!, 'web2.user1.example.com', ['hello', 'x'.repeat(300)]);
    assert.deepEqual([plain.statuses, secure.statuses, dead.statuses, unknown.statuses, vm.statuses], [[200, 200, 200], [200, 200], [502], [404], [200]]);
    assert.deepEqual(ws.echoes, ['web2:http:hello', `web2:http:${'x'.repeat(300)}`]);
    // A failed handshake: plain text to the HTTPS port.
    await new Promise<void>((resolve) => {
      const s = net.connect(httpsPort!, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: s.example.com\r\n\r\n'));
      s.on('close', () => resolve());
      s.on('error', () => {});
    });

    const m = await waitFor('the WebSocket\'s bytes to be counted', async () => {
      const s = await e.scrape();
      return sample(s, 'idcs_edge_http_bytes_total', { proxy: '*.user1.example.com', vm: 'user1/web2', direction: 'out' }) === ws.read ? s : null;
    });
    const req = (proxy: string, vmKey: string, cls: string) => sample(m, 'idcs_edge_http_requests_total', { proxy, vm: vmKey, status_class: cls });
    const bytes = (proxy: string, vmKey: string, direction: string) => sample(m, 'idcs_edge_http_bytes_total', { proxy, vm: vmKey, direction });
    assert.equal(req('a.example.com', '-', '2xx'), 3, 'two VMs share the address: a fixed target there is no one VM\'s');
    assert.equal(req('s.example.com', '-', '2xx'), 3);
    assert.equal(req('dead.example.com', '-', '5xx'), 1);
    assert.equal(req('-', '-', '4xx'), 1, 'unknown hosts count under proxy="-"');
    assert.equal(req('*.user1.example.com', 'user1/web1', '2xx'), 1);
    assert.equal(req('*.user1.example.com', 'user1/web2', '1xx'), 1, 'the WebSocket upgrade (101)');
    assert.deepEqual([bytes('a.example.com', '-', 'in'), bytes('a.example.com', '-', 'out')], [plain.written, plain.read]);
    assert.deepEqual([bytes('s.example.com', '-', 'in'), bytes('s.example.com', '-', 'out')], [secure.written + secure2.written, secure.read + secure2.read],
      'HTTPS: the bytes after decryption');
    assert.deepEqual([bytes('dead.example.com', '-', 'in'), bytes('dead.example.com', '-', 'out')], [dead.written, dead.read]);
    assert.deepEqual([bytes('-', '-', 'in'), bytes('-', '-', 'out')], [unknown.written, unknown.read]);
    assert.deepEqual([bytes('*.user1.example.com', 'user1/web2', 'in'), bytes('*.user1.example.com', 'user1/web2', 'out')], [ws.written, ws.read],
      'the handshake and every frame, both ways');
    assert.equal(sample(m, 'idcs_edge_upstream_errors_total', { proxy: 'dead.example.com', code: 'EDGE_ERR_UPSTREAM_REFUSED' }), 1);
    assert.equal(sample(m, 'idcs_edge_http_request_duration_seconds_count', { proxy: 'a.example.com' }), 3);
    assert.equal(sample(m, 'idcs_edge_http_request_duration_seconds_bucket', { proxy: 'a.example.com', le: '60' }), 3);
    assert.equal(sample(m, 'idcs_edge_tls_handshakes_total', { result: 'ok' }), 2);
    assert.equal(sample(m, 'idcs_edge_tls_handshakes_total', { result: 'failed' }), 1);
    assert.equal(sample(m, 'idcs_edge_config_applies_total', { source: 'start', result: 'applied' }), 1);
    const cert = (await e.api.call('GET', '/api/v1/certs')).body.certificates[0];
    assert.equal(sample(m, 'idcs_edge_cert_expiry_timestamp_seconds', { name: 's.example.com', source: 'self-signed' }),
      Math.floor(Date.parse(cert.certificate.notAfter) / 1000));
    assert.ok((sample(m, 'process_cpu_user_seconds_total') ?? 0) > 0, 'the default process metrics');
  });

  it('show open connections and WebSockets, renewals and refused applies; /metrics needs the token', async (t) => {
    const e = await edge(t);
    assert.equal((await e.api.call('GET', '/metrics', { token: null })).status, 401);
    assert.equal((await e.api.call('GET', '/metrics', { token: 'wrong-token-wrong-token' })).status, 401);
    const ws = new WebSocket(`ws://127.0.0.1:${e.edge.httpPort}/`, { headers: { host: 'web1.user1.example.com' } });
    t.after(() => ws.terminate());
    await new Promise((r) => ws.once('open', r));
    const idle = net.connect(e.edge.httpPort!, '127.0.0.1');
    t.after(() => idle.destroy());
    await new Promise((r) => idle.once('connect', r));
    const open = await waitFor('both connections to be open', async () => {
      const s = await e.scrape();
      return sample(s, 'idcs_edge_connections_open', { listener: 'http' }) === 2 ? s : null;
    });
    assert.equal(sample(open, 'idcs_edge_connections_open', { listener: 'https' }), 0);
    assert.equal(sample(open, 'idcs_edge_websockets_open', { proxy: '*.user1.example.com' }), 1);
    ws.close();
    idle.destroy();
    await waitFor('the WebSocket to be gone', async () => sample(await e.scrape(), 'idcs_edge_websockets_open', { proxy: '*.user1.example.com' }) === undefined);

    assert.equal((await e.api.call('POST', '/api/v1/certs/s.example.com/renew')).status, 200);
    assert.equal((await e.api.call('PUT', '/api/v1/proxies/bad.example.com', { json: { target: '127.0.0.1', targetPort: 0 } })).status, 400);
    e.writeConfig({ admin: { listen: '127.0.0.1:0' }, proxies: [{ domain: 'only.example.com', target: '127.0.0.1', targetPort: await deadPort(t) }] });
    const m = await waitFor('the file change to be applied', async () => {
      const s = await e.scrape();
      return sample(s, 'idcs_edge_config_applies_total', { source: 'file', result: 'applied' }) === 1 ? s : null;
    });
    assert.equal(sample(m, 'idcs_edge_cert_renewals_total', { name: 's.example.com', result: 'renewed' }), 1);
    assert.equal(sample(m, 'idcs_edge_config_applies_total', { source: 'api', result: 'refused' }), 1);
    assert.equal(sample(m, 'idcs_edge_config_applies_total', { source: 'start', result: 'applied' }), 1);
    assert.equal((await request(e.edge.httpPort!, 'only.example.com')).status, 502, 'the new config serves');
  });
});
