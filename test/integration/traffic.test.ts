/**
 * Traffic statistics end to end: `GET /api/v1/traffic` returns the bytes the clients' sockets really wrote
 * and read (per proxy and per VM, WebSockets included, counted while they are still open), requests by
 * status class, the totals survive a restart, and `idcs-edge traffic` prints this month's table.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { startEdge } from '../../src/main.ts';
import { adminClientOf } from '../helpers/admin.ts';
import { runCli } from '../helpers/cli.ts';
import { startTestEdge } from '../helpers/edge.ts';
import { memoryLogger } from '../helpers/log.ts';
import { exchange, webSocketSession } from '../helpers/metrics.ts';
import { startBackend, waitFor } from '../helpers/net.ts';

describe('traffic statistics', () => {
  it('are the bytes the clients sent and received, per VM and per proxy, and survive a restart', async (t) => {
    const b = await startBackend(t, 'web1');
    const { edge, configFile } = await startTestEdge(t, {
      admin: { listen: '127.0.0.1:0' },
      vms: [{ name: 'web1', owner: 'user1', ip: '127.0.0.1', port: b.port }, { name: 'idle', owner: 'user2', ip: '127.0.0.9' }],
      proxies: [
        { domain: 'shop.example.com', target: '127.0.0.1', targetPort: b.port, ssl: true },
        { domain: '*.user1.example.com', owner: 'user1' },
      ],
    });
    const api = adminClientOf(edge.admin);
    const https = await exchange(edge.httpsPort!, 'shop.example.com', [{ path: '/a' }, { path: '/upload', method: 'POST', body: 'u'.repeat(20_000) }], { https: true });
    const tmpl = await exchange(edge.httpPort!, 'web1.user1.example.com', [{ path: '/' }, { path: '/missing-is-fine' }]);
    const ws = await webSocketSession(edge.httpPort!, 'web1.user1.example.com', ['ping', 'y'.repeat(2000)]);

    // shop.example.com targets the one VM at its address: its bytes are user1/web1's too.
    const vmIn = https.written + tmpl.written + ws.written;
    const vmOut = https.read + tmpl.read + ws.read;
    const vm = await waitFor('the VM\'s bytes', async () => {
      const r = await api.call('GET', '/api/v1/traffic?vm=user1/web1&range=24h');
      return r.body.totals.out === vmOut ? r.body : null;
    });
    assert.deepEqual(vm.totals, { in: vmIn, out: vmOut });
    const minute = Math.floor(Date.now() / 60_000) * 60;
    assert.ok(vm.series.length >= 1 && vm.series.every((p: { t: number }) => p.t % 60 === 0 && p.t <= minute), 'per-minute points');
    assert.deepEqual(Object.keys(vm.series[0]).sort(), ['in', 'out', 't']);
    const shop = (await api.call('GET', '/api/v1/traffic?proxy=shop.example.com&range=month')).body;
    assert.deepEqual(shop.totals, { in: https.written, out: https.read }, 'HTTPS counts the bytes after decryption');
    assert.equal(shop.series.length, 1, 'one day this month');
    assert.equal(shop.series[0].t % 86_400, 0, 'a UTC day');
    const wildcard = (await api.call('GET', `/api/v1/traffic?proxy=${encodeURIComponent('*.user1.example.com')}&range=30d`)).body;
    assert.deepEqual(wildcard.totals, { in: tmpl.written + ws.written, out: tmpl.read + ws.read });
    const classes = (await api.call('GET', '/api/v1/traffic/requests?vm=user1/web1&range=24h')).body.totals;
    assert.deepEqual(classes, { '1xx': 1, '2xx': 4, '3xx': 0, '4xx': 0, '5xx': 0 });
    const list = (await api.call('GET', '/api/v1/traffic/vms')).body.vms;
    assert.deepEqual(list, [
      { vm: 'user1/web1', last24h: { in: vmIn, out: vmOut }, month: { in: vmIn, out: vmOut } },
      { vm: 'user2/idle', last24h: { in: 0, out: 0 }, month: { in: 0, out: 0 } },
    ]);
    for (const bad of ['range=week&vm=user1/web1', 'vm=nobody', 'range=24h', 'vm=a/b&proxy=c.example.com']) {
      const r = await api.call('GET', `/api/v1/traffic?${bad}`);
      assert.equal(r.status, 400, bad);
      assert.equal(r.body.error.code, 'EDGE_ERR_ADMIN_BAD_REQUEST');
    }

    await edge.close(500);
    const again = await startEdge({ configFile, log: memoryLogger().log, ephemeralPorts: true, watch: false });
    t.after(() => again.close(500));
    const after = (await adminClientOf(again.admin).call('GET', '/api/v1/traffic?vm=user1/web1&range=month')).body;
    assert.deepEqual(after.totals, { in: vmIn, out: vmOut }, 'the totals survived the restart');
    await again.close(500);

    const cli = await runCli(['traffic', '--config', configFile]);
    assert.equal(cli.code, 0, cli.stderr);
    const month = new Date().toISOString().slice(0, 7);
    assert.match(cli.stdout, new RegExp(`^traffic per VM in ${month} \\(UTC\\), from \\S+traffic\\.sqlite \\(no edge answered on admin\\.listen\\)`));
    assert.match(cli.stdout, /\nVM\s+IN\s+OUT\s+TOTAL\s+TOTAL BYTES\n/);
    assert.match(cli.stdout, new RegExp(`\\nuser1/web1\\s+\\S+ \\S*B\\s+\\S+ \\S*B\\s+\\S+ \\S*B\\s+${vmIn + vmOut}\\n`));
    assert.match(cli.stdout, /\nuser2\/idle\s+0 B\s+0 B\s+0 B\s+0\n/);
  });

  it('count a long-lived WebSocket while it is open', async (t) => {
    const b = await startBackend(t, 'web1');
    const { edge } = await startTestEdge(t, {
      admin: { listen: '127.0.0.1:0' },
      vms: [{ name: 'web1', owner: 'user1', ip: '127.0.0.1', port: b.port }],
      proxies: [{ domain: '*.user1.example.com', owner: 'user1' }],
    });
    const api = adminClientOf(edge.admin);
    const ws = new WebSocket(`ws://127.0.0.1:${edge.httpPort}/`, { headers: { host: 'web1.user1.example.com' } });
    t.after(() => ws.terminate());
    await new Promise((r) => ws.once('open', r));
    const socket = (ws as unknown as { _socket: Socket })._socket;
    for (const m of ['a'.repeat(10_000), 'b'.repeat(5_000)]) await new Promise((r) => { ws.once('message', r); ws.send(m); });
    // Reading the statistics counts the open connection's bytes so far; a timer does it too.
    const r = await api.call('GET', '/api/v1/traffic?vm=user1/web1&range=24h');
    assert.deepEqual(r.body.totals, { in: socket.bytesWritten, out: socket.bytesRead });
    assert.equal(edge.openUpgrades(), 1, 'still open');
  });
});
