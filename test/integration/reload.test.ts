/**
 * Reloading the config file while traffic flows: new VMs and proxies are served without a restart, open
 * WebSockets survive unless their route went away, and an invalid file leaves the running config serving.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { makeLeaf, writeTemp } from '../helpers/certs.ts';
import { startTestEdge } from '../helpers/edge.ts';
import { closed, echo, openWebSocket, request, startBackend, waitFor } from '../helpers/net.ts';

describe('reload', () => {
  it('adds a VM and a proxy without restart while a WebSocket stays open', async (t) => {
    const web1 = await startBackend(t, 'web1');
    const web2 = await startBackend(t, 'web2');
    const other = await startBackend(t, 'other');
    const doc = {
      vms: [{ name: 'web1', owner: 'user1', ip: '127.0.0.1', port: web1.port }],
      proxies: [{ domain: '*.user1.example.com', owner: 'user1' }],
    };
    const { edge, writeConfig, logs } = await startTestEdge(t, doc);
    const port = edge.httpPort!;
    const ws = await openWebSocket(port, 'web1.user1.example.com');
    assert.equal(await echo(ws, 'before'), 'web1:http:before');
    assert.equal((await request(port, 'web2.user1.example.com')).status, 404);

    writeConfig({
      vms: [...doc.vms, { name: 'web2', owner: 'user1', ip: '127.0.0.1', port: web2.port }],
      proxies: [...doc.proxies, { domain: 'other.example.com', target: '127.0.0.1', targetPort: other.port }],
    });
    await waitFor('the new VM to be served', async () => (await request(port, 'web2.user1.example.com')).status === 200);
    assert.equal(JSON.parse((await request(port, 'web2.user1.example.com')).body).backend, 'web2');
    assert.equal(JSON.parse((await request(port, 'other.example.com')).body).backend, 'other');
    assert.equal(await echo(ws, 'after'), 'web1:http:after', 'the WebSocket opened before the reload still echoes');
    assert.ok(logs.some((l) => l.msg === 'config applied' && l.source === 'file'));
    ws.close();
  });

  it('keeps serving the old config when the new one is invalid, and logs the problem by path', async (t) => {
    const b = await startBackend(t, 'b');
    const { edge, configFile, logs } = await startTestEdge(t, {
      proxies: [{ domain: 'a.example.com', target: '127.0.0.1', targetPort: b.port }],
    });
    writeFileSync(configFile, 'proxies:\n  - domain: a.example.com\n    target: 127.0.0.1\n    targetPort: 99999\n');
    const failed = await waitFor('the reload to be refused', () => logs.find((l) => l.msg?.toString().startsWith('config not applied')));
    assert.deepEqual((failed.issues as Array<{ path: string; message: string; line: number }>).map(({ path, message, line }) => ({ path, message, line })),
      [{ path: 'proxies[0].targetPort', message: 'expected 1-65535', line: 4 }]);
    const r = await request(edge.httpPort!, 'a.example.com');
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).backend, 'b');
    // Unparseable YAML is refused the same way.
    writeFileSync(configFile, 'proxies: [\n');
    await waitFor('the broken file to be refused', () => logs.filter((l) => l.msg?.toString().startsWith('config not applied')).length >= 2);
    assert.equal((await request(edge.httpPort!, 'a.example.com')).status, 200);
  });

  it('closes WebSockets whose route was removed and keeps the others', async (t) => {
    const b = await startBackend(t, 'b');
    const { edge, writeConfig } = await startTestEdge(t, { proxies: [
      { domain: 'keep.example.com', target: '127.0.0.1', targetPort: b.port },
      { domain: 'gone.example.com', target: '127.0.0.1', targetPort: b.port },
    ] });
    const keep = await openWebSocket(edge.httpPort!, 'keep.example.com');
    const gone = await openWebSocket(edge.httpPort!, 'gone.example.com');
    const goneClosed = closed(gone);
    writeConfig({ proxies: [{ domain: 'keep.example.com', target: '127.0.0.1', targetPort: b.port }] });
    await goneClosed;
    assert.equal((await request(edge.httpPort!, 'gone.example.com')).status, 404);
    assert.equal(await echo(keep, 'still'), 'b:http:still');
    keep.close();
    await waitFor('no open upgraded sockets', () => edge.openUpgrades() === 0);
  });

  it('a refused reload leaves renewal on the running config', async (t) => {
    const b = await startBackend(t, 'b');
    const leaf = await makeLeaf({ names: ['www.example.com'] });
    const files = await writeTemp(t, { 'c.pem': leaf.certPem, 'k.pem': leaf.keyPem });
    const a = { domain: 'a.example.com', target: '127.0.0.1', targetPort: b.port, ssl: true };
    const { edge, writeConfig } = await startTestEdge(t, { proxies: [a] }, { watch: false });
    writeConfig({ proxies: [a,
      { domain: 'new.example.com', target: '127.0.0.1', targetPort: b.port, ssl: true },
      // An upload that does not cover its domain: the whole reload is refused.
      { domain: 'shop.example.com', target: '127.0.0.1', targetPort: b.port, ssl: true, certSource: 'upload', certFile: files.path('c.pem'), keyFile: files.path('k.pem') },
    ] });
    assert.equal((await edge.reload()).ok, false);
    const scanned = (await edge.renewal!.scan('test')).map((r) => r.name);
    assert.deepEqual(scanned, ['a.example.com'], 'the scan still covers the running config only');
  });

  it('reload() can be called directly (SIGHUP does this) and reports the outcome', async (t) => {
    const b = await startBackend(t, 'b');
    const { edge, configFile } = await startTestEdge(t, { proxies: [{ domain: 'a.example.com', target: '127.0.0.1', targetPort: b.port }] }, { watch: false });
    writeFileSync(configFile, 'listne: {}\n');
    const bad = await edge.reload();
    assert.equal(bad.ok, false);
    assert.match(String(bad.error?.message), /unknown key: listne/);
    assert.equal((await request(edge.httpPort!, 'a.example.com')).status, 200);
  });
});
