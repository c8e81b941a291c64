/**
 * Port forwards with `workers: 2`: the primary serves them (one process, so a UDP client's datagrams all
 * reach one session), a config change adds one, and SIGTERM closes them with the rest of the group.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { spawnEdge } from '../helpers/cli.ts';
import { connect, freePortRange, tcpEcho, udpClient, udpEcho } from '../helpers/forwards.ts';
import { refusedPort, waitFor } from '../helpers/net.ts';

describe('workers mode: forwards', () => {
  it('serves TCP and UDP forwards from the primary, applies changes, and closes them on SIGTERM', async (t) => {
    const echo = await tcpEcho(t);
    const udp = await udpEcho(t);
    const dir = mkdtempSync(join(tmpdir(), 'edge-workers-fwd-'));
    const file = join(dir, 'edge.yaml');
    const logFile = join(dir, 'edge.log');
    const [http, https] = [await refusedPort(), await refusedPort()];
    const base = await freePortRange(['127.0.0.1'], 3);
    const write = (forwards: unknown[]) => {
      writeFileSync(`${file}.tmp`, stringify({ listen: { http, https, host: '127.0.0.1' }, workers: 2, certs: { dir: join(dir, 'certs') }, data: { dir: join(dir, 'data') },
        log: { file: logFile, level: 'info' }, shutdown: { graceMs: 2000 }, forwards }));
      renameSync(`${file}.tmp`, file);
    };
    const tcp = { port: base, target: '127.0.0.1', targetPort: echo.port };
    const dns = { protocol: 'udp', port: base + 1, target: '127.0.0.1', targetPort: udp };
    write([tcp, dns]);
    const edge = spawnEdge(t, file);
    const held = await waitFor('the TCP forward', () => connect(base).catch(() => null), 30_000);
    held.socket.write('a;');
    await waitFor('the echo', () => held.received() === 'a;');

    const [a, b] = [await udpClient(t, '127.0.0.1'), await udpClient(t, '127.0.0.7')];
    const sessionOf = async (c: typeof a) => (await waitFor('a UDP reply', () => c.ask(base + 1, 'q'))).text.split(':')[0];
    const sa = await sessionOf(a);
    const sb = await sessionOf(b);
    assert.notEqual(sa, sb);
    for (let i = 0; i < 5; i++) assert.equal(await sessionOf(a), sa, 'every datagram of one client reaches its one session');

    write([tcp, dns, { port: base + 2, target: '127.0.0.1', targetPort: echo.port }]);
    const added = await waitFor('the added forward', () => connect(base + 2).catch(() => null), 20_000);
    added.socket.end('b');
    await added.closed;
    assert.equal(added.received(), 'b');
    assert.equal(held.socket.destroyed, false, 'the other forward\'s connection stayed open');

    edge.child.kill('SIGTERM');
    assert.equal(await edge.exited, 0, edge.output());
    await held.closed;
    await assert.rejects(connect(base), /ECONNREFUSED/);
    assert.match(readFileSync(logFile, 'utf8'), /"forwards":/);
  });
});
