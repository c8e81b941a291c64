/**
 * Capped paths carry their data whole: an HTTP upload and download through a proxy with a cap, a WebSocket
 * through a VM's cap (the upgraded pair re-piped under it), and a TCP forward with a cap, both ways. How
 * close a capped rate comes to its cap is measured in the bench (`cap` case), not asserted here.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startTestEdge } from '../helpers/edge.ts';
import { connect, freePortRange, tcpServer } from '../helpers/forwards.ts';
import { echo, openWebSocket, request, startBackend } from '../helpers/net.ts';

describe('bandwidth caps', () => {
  it('pass capped HTTP bodies, WebSocket messages and forward streams whole', async (t) => {
    const b = await startBackend(t, 'b');
    // The forward's VM answers with the size of what it received, then as much again.
    const vm = await tcpServer(t, '127.0.0.1', 0, (c) => {
      let n = 0;
      c.on('data', (d) => { n += d.length; });
      c.on('end', () => c.end(Buffer.alloc(n, 'y')));
    }, { allowHalfOpen: true });
    const port = await freePortRange(['127.0.0.1'], 1);
    const cap = { ingressMbps: 20, egressMbps: 20, burstKB: 64 };
    const { edge } = await startTestEdge(t, {
      vms: [{ owner: 'user1', name: 'web1', ip: '127.0.0.1', port: b.port, bandwidth: cap }],
      proxies: [
        { domain: 'capped.example.com', target: '127.0.0.1', targetPort: b.port, bandwidth: cap },
        { domain: '*.user1.example.com', owner: 'user1' },
      ],
      forwards: [{ port, target: '127.0.0.1', targetPort: vm.port, bandwidth: cap }],
    });
    // The proxy's target is web1's address: its cap and the VM's both apply.
    const body = 'z'.repeat(300_000);
    const up = await request(edge.httpPort!, 'capped.example.com', { method: 'POST', body, headers: { 'content-type': 'text/plain' } });
    assert.equal(up.status, 200);
    assert.equal(JSON.parse(up.body).body.length, body.length, 'the upload arrived whole, and its echo came back whole');

    const ws = await openWebSocket(edge.httpPort!, 'web1.user1.example.com');
    const big = 'w'.repeat(200_000);
    assert.equal(await echo(ws, big), `b:http:${big}`);
    assert.equal(await echo(ws, 'small'), 'b:http:small');
    ws.close();

    const c = await connect(port);
    c.socket.end(Buffer.alloc(400_000, 'x'));
    await c.closed;
    assert.equal(c.received().length, 400_000);
  });
});
