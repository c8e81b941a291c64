/**
 * The apply pipeline in a running edge: restart-only keys are warned about while the rest applies,
 * upstream settings apply live, a refused apply leaves the control plane on the running config, and
 * connection pools of removed upstreams are released.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { startTestEdge } from '../helpers/edge.ts';
import { deadPort, request, startBackend, waitFor } from '../helpers/net.ts';

describe('apply pipeline', () => {
  it('warns about a restart-only key, keeps its running value, and applies the rest (upstream.timeoutMs live)', async (t) => {
    const b = await startBackend(t, 'b');
    const proxies = [{ domain: 'a.example.com', target: '127.0.0.1', targetPort: b.port }];
    const { edge, writeConfig, logs } = await startTestEdge(t, { upstream: { timeoutMs: 60_000 }, proxies }, { watch: false });
    const running = edge.config().listen;
    writeConfig({ listen: { http: 1, https: 2, host: '127.0.0.1' }, upstream: { timeoutMs: 200 }, proxies });
    const r = await edge.reload();
    assert.equal(r.ok, true);
    assert.deepEqual(r.changes?.restartRequired, ['listen']);
    assert.deepEqual(edge.config().listen, running);
    assert.ok(logs.some((l) => l.msg === 'these keys changed but apply after a restart; the running values stay'
      && JSON.stringify(l.keys) === '["listen"]'));
    // The new upstream timeout is what the next request gets.
    const hang = await request(edge.httpPort!, 'a.example.com', { path: '/hang' });
    assert.equal(hang.status, 504);
  });

  it('a refused apply (unreadable acme.caFile) leaves renewal and ACME on the running config', async (t) => {
    const b = await startBackend(t, 'b');
    // A CA address on loopback where nothing listens: attempts fail at once and never leave the machine.
    const acme = { directoryUrl: `https://127.0.0.1:${await deadPort(t)}/dir`, agreeTos: true, retryMaxAttempts: 0 };
    const a = { domain: 'a.example.com', target: '127.0.0.1', targetPort: b.port, ssl: true, certSource: 'letsencrypt' };
    const { edge, writeConfig } = await startTestEdge(t, { acme, proxies: [a] }, { watch: false });
    writeConfig({ acme: { ...acme, caFile: '/nonexistent/ca.pem' }, proxies: [a,
      { domain: 'new.example.com', target: '127.0.0.1', targetPort: b.port, ssl: true, certSource: 'letsencrypt' }] });
    const r = await edge.reload();
    assert.equal(r.ok, false);
    assert.deepEqual(r.issues?.map((i) => i.path), ['acme.caFile']);
    const scanned = (await edge.renewal!.scan('test')).map((x) => [x.name, x.error?.code]);
    // The running issuer still runs (it fails to reach the CA, as before), and only for the running names.
    assert.deepEqual(scanned, [['a.example.com', 'EDGE_ERR_ACME_CONNECTION']]);
  });

  it('releases the connection pools of upstreams the config no longer uses', async (t) => {
    const b1 = await startBackend(t, 'b1');
    const b2 = await startBackend(t, 'b2');
    const at = (port: number) => ({ proxies: [{ domain: 'a.example.com', target: '127.0.0.1', targetPort: port }] });
    const { edge, writeConfig } = await startTestEdge(t, at(b1.port), { watch: false });
    for (let i = 0; i < 6; i++) {
      const port = i % 2 === 0 ? b2.port : b1.port;
      writeConfig(at(port));
      assert.equal((await edge.reload()).ok, true);
      // A request keeps a pooled connection open across the next apply.
      assert.equal((await request(edge.httpPort!, 'a.example.com')).status, 200);
    }
    await waitFor('retired pools to be released', () => edge.stats().pools.retired === 0);
    assert.equal(edge.stats().pools.active, 1);
  });

  it('a request whose client hangs up before the answer is logged as 499', async (t) => {
    const b = await startBackend(t, 'b');
    const { edge, logs } = await startTestEdge(t, { proxies: [{ domain: 'a.example.com', target: '127.0.0.1', targetPort: b.port }] });
    const s = net.connect(edge.httpPort!, '127.0.0.1', () => s.write('GET /hang HTTP/1.1\r\nHost: a.example.com\r\n\r\n'));
    await waitFor('the VM to get the request', () => b.requests.some((r) => r.url === '/hang'));
    s.destroy();
    const line = await waitFor('the access line', () => logs.find((l) => l.msg === 'access' && l.path === '/hang'));
    assert.equal(line.status, 499);
    assert.equal(line.aborted, true);
  });
});
