/**
 * Routing and proxying over plain HTTP, judged by what real clients receive from a real edge in front of
 * real VM-like backends on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { startTestEdge } from '../helpers/edge.ts';
import { closed, deadPort, echo, openWebSocket, request, startBackend, waitFor } from '../helpers/net.ts';

describe('HTTP routing', () => {
  it('routes exact, template and plain-wildcard domains to the right VM, keeping the original Host', async (t) => {
    const web1 = await startBackend(t, 'web1');
    const web2 = await startBackend(t, 'web2');
    const shared = await startBackend(t, 'shared');
    const { edge } = await startTestEdge(t, {
      vms: [
        { name: 'web1', owner: 'user1', ip: '127.0.0.1', port: web1.port },
        { name: 'web2', owner: 'user1', ip: '127.0.0.1', port: web2.port },
      ],
      proxies: [
        { domain: 'app.example.com', target: '127.0.0.1', targetPort: web1.port },
        { domain: '*.user1.example.com', owner: 'user1', targetPort: 1 },
        { domain: '*.shared.example.com', target: '127.0.0.1', targetPort: shared.port },
      ],
    });
    const p = edge.httpPort!;
    const a = await request(p, 'App.Example.com.:80');
    assert.equal(a.status, 200);
    assert.equal(JSON.parse(a.body).backend, 'web1');
    assert.equal(JSON.parse(a.body).headers.host, 'App.Example.com.:80');
    assert.equal(JSON.parse((await request(p, 'web2.user1.example.com', { path: '/x?y=1' })).body).url, '/x?y=1');
    assert.equal(JSON.parse((await request(p, 'web2.user1.example.com')).body).backend, 'web2');
    assert.equal(JSON.parse((await request(p, 'WEB1.user1.example.com')).body).backend, 'web1');
    assert.equal(JSON.parse((await request(p, 'anything.shared.example.com')).body).backend, 'shared');
    const nested = await request(p, 'a.web1.user1.example.com');
    assert.equal(nested.status, 404);
  });

  it('forwards method and body', async (t) => {
    const b = await startBackend(t, 'b');
    const { edge } = await startTestEdge(t, { proxies: [{ domain: 'a.example.com', target: '127.0.0.1', targetPort: b.port }] });
    const r = await request(edge.httpPort!, 'a.example.com', { method: 'POST', body: 'hello=world', headers: { 'content-type': 'text/plain' } });
    const got = JSON.parse(r.body);
    assert.equal(got.method, 'POST');
    assert.equal(got.body, 'hello=world');
  });
});

describe('error pages', () => {
  it('404 names the unknown host and forwards nothing; 404 for a template without that VM; 400 without Host', async (t) => {
    const b = await startBackend(t, 'b');
    const { edge, logs } = await startTestEdge(t, {
      vms: [{ name: 'web1', owner: 'user1', ip: '127.0.0.1', port: b.port }],
      proxies: [{ domain: '*.user1.example.com', owner: 'user1' }],
    });
    const unknown = await request(edge.httpPort!, 'nobody.example.org', { headers: { accept: 'text/html' } });
    assert.equal(unknown.status, 404);
    assert.match(unknown.body, /No site is configured for this address/);
    assert.equal(unknown.headers['x-edge-error'], 'EDGE_ERR_NO_ROUTE');
    const noVm = await request(edge.httpPort!, 'ghost.user1.example.com');
    assert.equal(noVm.status, 404);
    // The visitor learns nothing about the inventory; the operator's access line says which owner lacks the VM.
    assert.match(noVm.body, /No site is configured for this address/);
    assert.doesNotMatch(noVm.body, /user1/);
    const line = logs.find((l) => l.msg === 'access' && l.id === noVm.headers['x-request-id']);
    assert.match(String(line?.err), /user1 has no VM named "ghost"/);
    assert.equal(b.requests.length, 0, 'nothing reached the VM');

    // HTTP/1.0 may omit Host; HTTP/1.1 must not (Node answers that 400 itself).
    for (const raw of ['GET / HTTP/1.0\r\n\r\n', 'GET / HTTP/1.1\r\nConnection: close\r\n\r\n']) {
      const reply = await new Promise<string>((resolve, reject) => {
        const s = net.connect(edge.httpPort!, '127.0.0.1', () => s.write(raw));
        let data = '';
        s.on('data', (d) => { data += d.toString(); });
        s.on('end', () => resolve(data));
        s.on('error', reject);
      });
      assert.match(reply, /^HTTP\/1\.[01] 400/);
    }
    assert.ok(logs.some((l) => l.msg === 'access' && l.status === 404 && l.host === 'nobody.example.org'));
  });

  it('502 says the VM refused; 504 when it does not answer in time; the log says why', async (t) => {
    const dead = await deadPort(t);
    const slow = await startBackend(t, 'slow');
    const { edge, logs } = await startTestEdge(t, {
      upstream: { timeoutMs: 300 },
      proxies: [
        { domain: 'down.example.com', target: '127.0.0.1', targetPort: dead },
        { domain: 'slow.example.com', target: '127.0.0.1', targetPort: slow.port },
      ],
    });
    const down = await request(edge.httpPort!, 'down.example.com');
    assert.equal(down.status, 502);
    assert.match(down.body, /refused the connection/);
    assert.doesNotMatch(down.body, new RegExp(String(dead)), 'the public page never names the VM\'s address');
    assert.equal(down.headers['x-edge-error'], 'EDGE_ERR_UPSTREAM_REFUSED');
    const hang = await request(edge.httpPort!, 'slow.example.com', { path: '/hang' });
    assert.equal(hang.status, 504);
    assert.equal(hang.headers['x-edge-error'], 'EDGE_ERR_UPSTREAM_TIMEOUT');
    // A slow but streaming-after-headers answer is fine; only silence before headers times out.
    const ok = await request(edge.httpPort!, 'slow.example.com', { path: '/slow?ms=50' });
    assert.equal(ok.status, 200);
    const why = logs.find((l) => l.msg === 'request failed' && l.host === 'down.example.com');
    assert.ok(why, 'a log line explains the 502');
    assert.equal(why.code, 'EDGE_ERR_UPSTREAM_REFUSED');
    assert.equal(why.upstream, `http://127.0.0.1:${dead}`);
  });
});

describe('never an open proxy', () => {
  const raw = (port: number, text: string) => new Promise<string>((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(text));
    let data = '';
    s.on('data', (d) => { data += d.toString(); });
    s.on('close', () => resolve(data));
    s.on('error', reject);
  });

  it('refuses CONNECT tunnels and routes absolute-form requests by their authority (RFC 9112 3.2.2) to configured VMs only', async (t) => {
    const vm = await startBackend(t, 'vm');
    const elsewhere = await startBackend(t, 'elsewhere');
    const { edge } = await startTestEdge(t, { proxies: [{ domain: 'a.example.com', target: '127.0.0.1', targetPort: vm.port }] });
    const tunnel = await raw(edge.httpPort!, `CONNECT 127.0.0.1:${elsewhere.port} HTTP/1.1\r\nHost: 127.0.0.1:${elsewhere.port}\r\n\r\n`);
    assert.doesNotMatch(tunnel, /^HTTP\/1\.1 200/);
    const unknown = await raw(edge.httpPort!, `GET http://127.0.0.1:${elsewhere.port}/ HTTP/1.1\r\nHost: 127.0.0.1:${elsewhere.port}\r\nConnection: close\r\n\r\n`);
    assert.match(unknown, /^HTTP\/1\.1 404/);
    const hostOnly = await raw(edge.httpPort!, `GET http://127.0.0.1:${elsewhere.port}/x HTTP/1.1\r\nHost: a.example.com\r\nConnection: close\r\n\r\n`);
    assert.match(hostOnly, /^HTTP\/1\.1 404/);
    const known = await raw(edge.httpPort!, `GET http://a.example.com/x HTTP/1.1\r\nHost: 127.0.0.1:${elsewhere.port}\r\nConnection: close\r\n\r\n`);
    assert.match(known, /^HTTP\/1\.1 200/);
    assert.match(known, /"backend":"vm"/);
    assert.deepEqual(vm.requests.map((r) => [r.url, r.headers.host]), [['/x', 'a.example.com']]);
    assert.equal(elsewhere.requests.length, 0, 'nothing reached a server that is not a configured VM');
  });
});

describe('forwarding headers', () => {
  const forged = { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.test', forwarded: 'for=6.6.6.6' };

  it('drops client-sent values from an untrusted peer', async (t) => {
    const b = await startBackend(t, 'b');
    const { edge } = await startTestEdge(t, { proxies: [{ domain: 'a.example.com', target: '127.0.0.1', targetPort: b.port }] });
    const h = JSON.parse((await request(edge.httpPort!, 'a.example.com', { headers: forged })).body).headers;
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h['x-forwarded-host'], 'a.example.com');
    assert.equal(h['x-forwarded-port'], String(edge.httpPort));
    assert.equal(h.forwarded, 'for=127.0.0.1;host=a.example.com;proto=http');
  });

  it('appends to values from a configured trusted proxy', async (t) => {
    const b = await startBackend(t, 'b');
    const { edge } = await startTestEdge(t, {
      trustedProxies: ['127.0.0.0/8'],
      proxies: [{ domain: 'a.example.com', target: '127.0.0.1', targetPort: b.port }],
    });
    const h = JSON.parse((await request(edge.httpPort!, 'a.example.com', { headers: forged })).body).headers;
    assert.equal(h['x-forwarded-for'], '6.6.6.6, 127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'https');
    assert.equal(h['x-forwarded-host'], 'evil.test');
    assert.equal(h.forwarded, 'for=6.6.6.6, for=127.0.0.1;host=a.example.com;proto=http');
  });
});

describe('connection handling', () => {
  it('a client\'s Connection: close does not cost an upstream reconnect, and is not forwarded', async (t) => {
    const b = await startBackend(t, 'b');
    const { edge } = await startTestEdge(t, { proxies: [{ domain: 'a.example.com', target: '127.0.0.1', targetPort: b.port }] });
    for (let i = 0; i < 5; i++) {
      const r = await request(edge.httpPort!, 'a.example.com', { headers: { connection: 'close' } });
      assert.equal(r.status, 200);
      assert.equal(r.headers.connection, 'close');
      assert.equal(JSON.parse(r.body).headers.connection, 'keep-alive');
    }
    assert.equal(b.connections(), 1, 'one pooled upstream connection served all five client connections');
  });

  it('leaves no open sockets after aborted requests and closed WebSockets', async (t) => {
    const b = await startBackend(t, 'b');
    const { edge, logs } = await startTestEdge(t, { proxies: [{ domain: 'a.example.com', target: '127.0.0.1', targetPort: b.port }] });
    // Requests the client abandons while the VM is still thinking.
    for (let i = 0; i < 5; i++) {
      await new Promise<void>((resolve) => {
        const s = net.connect(edge.httpPort!, '127.0.0.1', () => s.write('GET /hang HTTP/1.1\r\nHost: a.example.com\r\n\r\n'));
        const started = b.requests.length;
        void waitFor('request at backend', () => b.requests.length > started).then(() => { s.destroy(); resolve(); });
      });
    }
    const sockets = await Promise.all([1, 2, 3].map(() => openWebSocket(edge.httpPort!, 'a.example.com')));
    assert.equal(edge.openUpgrades(), 3);
    sockets[0]!.close();
    sockets[1]!.terminate();
    // The VM side goes away under the third.
    const closedThird = closed(sockets[2]!);
    await waitFor('two upgrades gone', () => edge.openUpgrades() === 1);
    sockets[2]!.terminate();
    await closedThird;
    await waitFor('no open upgraded sockets', () => edge.openUpgrades() === 0);
    await waitFor('no requests in flight', () => edge.inFlight() === 0);
    assert.deepEqual(logs.filter((l) => l.msg === 'request failed'), [], 'a client that hangs up is not reported as a failing VM');
  });
});

describe('WebSocket over HTTP', () => {
  it('echoes through the edge when enabled and is refused with 403 when not', async (t) => {
    const b = await startBackend(t, 'vm');
    const { edge } = await startTestEdge(t, { proxies: [
      { domain: 'ws.example.com', target: '127.0.0.1', targetPort: b.port, websocket: true },
      { domain: 'nows.example.com', target: '127.0.0.1', targetPort: b.port, websocket: false },
    ] });
    const ws = await openWebSocket(edge.httpPort!, 'ws.example.com');
    assert.equal(await echo(ws, 'hello'), 'vm:http:hello');
    assert.equal(await echo(ws, 'again'), 'vm:http:again');
    ws.close();
    await assert.rejects(openWebSocket(edge.httpPort!, 'nows.example.com'), (e: Error & { status?: number }) => e.status === 403);
    await assert.rejects(openWebSocket(edge.httpPort!, 'unknown.example.com'), (e: Error & { status?: number }) => e.status === 404);
    await waitFor('no open upgraded sockets', () => edge.openUpgrades() === 0);
  });

  it('a WebSocket to a VM that is down gets a 502', async (t) => {
    const dead = await deadPort(t);
    const { edge } = await startTestEdge(t, { proxies: [{ domain: 'ws.example.com', target: '127.0.0.1', targetPort: dead }] });
    await assert.rejects(openWebSocket(edge.httpPort!, 'ws.example.com'), (e: Error & { status?: number }) => e.status === 502);
    await waitFor('no open upgraded sockets', () => edge.openUpgrades() === 0);
  });
});
