/**
 * TCP port forwards over real sockets: both directions with half-close, the appliance case (a port and a
 * range of ten from 127.0.0.2 to 127.0.0.3, each port to its own), PROXY protocol headers, forwards added
 * and removed by config while another forward's connection stays open, a taken port refused naming the
 * forward, and shutdown closing forward connections.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { startTestEdge } from '../helpers/edge.ts';
import { connect, freePortRange, tcpEcho, tcpServer } from '../helpers/forwards.ts';
import { deadPort, waitFor } from '../helpers/net.ts';

describe('TCP forwards', () => {
  it('carries data both ways and honours a half-close', async (t) => {
    // The VM reads until the client's FIN, then answers with what it got and closes its side.
    const vm = await tcpServer(t, '127.0.0.1', 0, (c) => {
      const chunks: Buffer[] = [];
      c.on('data', (d) => chunks.push(d));
      c.on('end', () => {
        const got = Buffer.concat(chunks);
        c.write(`got ${got.length} bytes ending ${got.subarray(-5).toString()}; `);
        c.end('bye');
      });
    }, { allowHalfOpen: true });
    const port = await freePortRange(['127.0.0.1'], 1);
    const { edge } = await startTestEdge(t, { forwards: [{ protocol: 'tcp', listen: '127.0.0.1', port, target: '127.0.0.1', targetPort: vm.port, note: 'SSH' }] });
    const c = await connect(port);
    const big = Buffer.alloc(4 * 1024 * 1024, 'x');
    big.write('hello', big.length - 5);
    c.socket.write(big);
    c.socket.end();
    assert.equal((await c.closed).hadError, false);
    assert.equal(c.received(), `got ${big.length} bytes ending hello; bye`);
    await waitFor('the connection to be counted closed', () => edge.stats().forwards === 0);
  });

  it('maps a port and a range of ten from one loopback address to the same ports on another', async (t) => {
    const base = await freePortRange(['127.0.0.2', '127.0.0.3'], 11);
    const single = base + 10;
    // Each VM service answers with the port it listens on.
    for (let p = base; p <= single; p++) await tcpServer(t, '127.0.0.3', p, (c) => c.end(`vm port ${p}`));
    await startTestEdge(t, { forwards: [
      { protocol: 'tcp', listen: '127.0.0.2', port: single, target: '127.0.0.3', note: 'SSH' },
      { protocol: 'tcp', listen: '127.0.0.2', port: `${base}-${base + 9}`, target: '127.0.0.3', targetPort: `${base}-${base + 9}`, note: 'spare' },
    ] });
    for (let p = base; p <= single; p++) {
      const c = await connect(p, '127.0.0.2');
      await c.closed;
      assert.equal(c.received(), `vm port ${p}`);
    }
    await assert.rejects(connect(base, '127.0.0.1'), /ECONNREFUSED/, 'only the listen address is bound');
  });

  it('sends the client address in a PROXY protocol v1 or v2 header', async (t) => {
    const seen: Buffer[] = [];
    const vm = await tcpServer(t, '127.0.0.1', 0, (c) => c.once('data', (d) => { seen.push(d); c.end('ok'); }));
    const base = await freePortRange(['127.0.0.1'], 2);
    await startTestEdge(t, { forwards: [
      { port: base, target: '127.0.0.1', targetPort: vm.port, proxyProtocol: 'v1' },
      { port: base + 1, target: '127.0.0.1', targetPort: vm.port, proxyProtocol: 'v2' },
    ] });
    const c1 = await connect(base, '127.0.0.1', '127.0.0.5');
    const p1 = c1.socket.localPort;
    c1.socket.write('x');
    await c1.closed;
    assert.equal(seen[0]!.toString().split('\r\n')[0], `PROXY TCP4 127.0.0.5 127.0.0.1 ${p1} ${base}`);
    const c2 = await connect(base + 1, '127.0.0.1', '127.0.0.6');
    const p2 = c2.socket.localPort;
    c2.socket.write('x');
    await c2.closed;
    const v2 = seen[1]!;
    assert.deepEqual([...v2.subarray(12, 16)], [0x21, 0x11, 0, 12]);
    assert.equal([...v2.subarray(16, 20)].join('.'), '127.0.0.6');
    assert.equal(v2.readUInt16BE(24), p2);
    assert.equal(v2.readUInt16BE(26), base + 1);
  });

  it('adds and removes forwards by config while another forward\'s connection stays open; a taken port is refused', async (t) => {
    const echo = await tcpEcho(t);
    const base = await freePortRange(['127.0.0.1'], 3);
    const keep = { port: base, target: '127.0.0.1', targetPort: echo.port, note: 'kept' };
    const added = { port: base + 1, target: '127.0.0.1', targetPort: echo.port, note: 'added' };
    const te = await startTestEdge(t, { forwards: [keep] });
    const held = await connect(base);
    held.socket.write('one;');
    await waitFor('the echo', () => held.received() === 'one;');

    te.writeConfig({ forwards: [keep, added] });
    const c = await waitFor('the new forward', () => connect(base + 1).catch(() => null));
    c.socket.end('two');
    await c.closed;
    assert.equal(c.received(), 'two');

    te.writeConfig({ forwards: [keep] });
    await waitFor('the removed forward to stop listening', () => connect(base + 1).then((x) => { x.socket.destroy(); return false; }, () => true));

    // Another program holds a port: the apply that wants it is refused, naming the forward, and nothing changes.
    const other = net.createServer();
    await new Promise<void>((r) => other.listen(base + 2, '127.0.0.1', () => r()));
    t.after(() => new Promise((r) => other.close(r)));
    const r = await te.edge.apply({ document: { ...(await import('yaml')).parse((await import('node:fs')).readFileSync(te.configFile, 'utf8')),
      forwards: [keep, added, { port: base + 2, target: '127.0.0.1', targetPort: echo.port }] } }, 'api');
    assert.equal(r.ok, false);
    assert.deepEqual(r.issues?.map((i) => i.path), ['forwards[2].port']);
    assert.match(r.issues![0]!.message, /forward tcp\/\d+ .*EADDRINUSE/);
    await assert.rejects(connect(base + 1), /ECONNREFUSED/, 'the forward bound for the refused apply is closed again');

    held.socket.write('still;');
    await waitFor('the held connection to still echo', () => held.received() === 'one;still;');
    assert.equal(held.socket.destroyed, false);
    held.socket.destroy();
  });

  it('closes the client\'s connection when the VM refuses, and says why in the log', async (t) => {
    const dead = await deadPort(t);
    const port = await freePortRange(['127.0.0.1'], 1);
    const te = await startTestEdge(t, { forwards: [{ port, target: '127.0.0.1', targetPort: dead }] });
    const c = await connect(port);
    c.socket.write('anyone?');
    await c.closed;
    assert.equal(c.received(), '');
    const line = await waitFor('the log line', () => te.logs.find((l) => l.msg === 'forward could not reach the VM'));
    assert.equal(line.code, 'EDGE_ERR_UPSTREAM_REFUSED');
    assert.equal(line.forward, `tcp/${port}`);
    assert.equal(te.edge.stats().forwards, 0);
  });

  it('closes forward connections on shutdown', async (t) => {
    const echo = await tcpEcho(t);
    const port = await freePortRange(['127.0.0.1'], 1);
    const te = await startTestEdge(t, { forwards: [{ port, target: '127.0.0.1', targetPort: echo.port }] });
    const c = await connect(port);
    c.socket.write('a');
    await waitFor('the echo', () => c.received() === 'a');
    assert.equal(te.edge.stats().forwards, 1);
    await te.edge.close(5000);
    await c.closed;
    assert.equal(echo.connections.size, 0, 'the VM side is closed too');
    await assert.rejects(connect(port), /ECONNREFUSED/);
  });
});
