/**
 * UDP port forwards over real sockets: request and reply through a forward, two clients kept apart (each
 * its own session, so the VM sees two source ports), replies from the port the client sent to, a refused
 * source dropped and counted, and metrics and per-VM traffic fed from what the forwards report.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { systemClock } from '../../src/clock.ts';
import { observeForwards } from '../../src/metrics/forwards.ts';
import { createMetrics } from '../../src/metrics/registry.ts';
import { createTrafficRecorder } from '../../src/stats/traffic.ts';
import { startTestEdge } from '../helpers/edge.ts';
import { connect, freePortRange, tcpEcho, udpClient, udpEcho } from '../helpers/forwards.ts';
import { waitFor } from '../helpers/net.ts';

describe('UDP forwards', () => {
  it('answers each client from the forward port, keeping two clients apart; a refused source is dropped', async (t) => {
    const vmPort = await udpEcho(t);
    const port = await freePortRange(['127.0.0.1'], 1);
    const metrics = createMetrics({ processMetrics: false });
    const traffic = createTrafficRecorder(systemClock);
    const te = await startTestEdge(t, {
      vms: [{ owner: 'user1', name: 'dns', ip: '127.0.0.1' }],
      forwards: [{ protocol: 'udp', port, vm: { owner: 'user1', name: 'dns' }, targetPort: vmPort, deny: ['127.0.0.9/32'], note: 'DNS' }],
    }, { forwardObserver: observeForwards(metrics, traffic) });
    const [a, b, refused] = [await udpClient(t, '127.0.0.1'), await udpClient(t, '127.0.0.7'), await udpClient(t, '127.0.0.9')];

    const ra = await waitFor('a reply to client a', () => a.ask(port, 'from-a'));
    const rb = await waitFor('a reply to client b', () => b.ask(port, 'from-b'));
    assert.equal(ra.from, port, 'the reply comes from the port the client sent to');
    assert.equal(rb.from, port);
    const [sessionA, textA] = ra.text.split(':');
    const [sessionB, textB] = rb.text.split(':');
    assert.equal(textA, 'from-a');
    assert.equal(textB, 'from-b');
    assert.notEqual(sessionA, sessionB, 'each client is a session of its own towards the VM');
    // A client's next datagram goes through its existing session.
    assert.equal((await waitFor('a second reply to a', () => a.ask(port, 'again')))!.text, `${sessionA}:again`);
    assert.equal(te.edge.stats().forwards, 2);

    void refused.ask(port, 'let me in', '127.0.0.1', 200);
    await waitFor('the refusal counted', async () => (await metrics.text()).includes(`idcs_edge_forward_refused_total{forward="udp/${port}",reason="access"}`));
    await waitFor('the refusal logged', () => te.logs.find((l) => l.msg === 'forward refused a source' && l.client === '127.0.0.9'));

    await te.edge.close(100);
    const text = await metrics.text();
    assert.match(text, new RegExp(`idcs_edge_forward_sessions_total\\{forward="udp/${port}",vm="user1/dns"\\} 2`));
    assert.match(text, new RegExp(`idcs_edge_forward_bytes_total\\{forward="udp/${port}",vm="user1/dns",direction="in"\\} ${'from-a'.length + 'from-b'.length + 'again'.length}`));
    const vm = traffic.take().filter((d) => d.kind === 'vm' && d.id === 'user1/dns');
    assert.equal(vm.reduce((n, d) => n + d.in, 0), 'from-a'.length + 'from-b'.length + 'again'.length);
    assert.ok(vm.reduce((n, d) => n + d.out, 0) > 0);
  });

  it('counts TCP forward connections and bytes into the metrics', async (t) => {
    const echo = await tcpEcho(t);
    const port = await freePortRange(['127.0.0.1'], 1);
    const metrics = createMetrics({ processMetrics: false });
    const te = await startTestEdge(t, { forwards: [{ port, target: '127.0.0.1', targetPort: echo.port }] },
      { forwardObserver: observeForwards(metrics, null) });
    const c = await connect(port);
    c.socket.end('12345');
    await c.closed;
    await waitFor('the connection closed', () => te.edge.stats().forwards === 0);
    const text = await metrics.text();
    assert.match(text, new RegExp(`idcs_edge_forward_connections_total\\{forward="tcp/${port}",vm="-"\\} 1`));
    assert.match(text, new RegExp(`idcs_edge_forward_bytes_total\\{forward="tcp/${port}",vm="-",direction="out"\\} 5`));
  });
});
