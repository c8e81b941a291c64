/**
 * Proxies and VMs through the admin API, judged by what the edge serves right after each answer and by
 * what the config file says: create, read, replace, delete; refusals that change nothing; optimistic
 * concurrency with ETags; concurrent writes; comments kept; the same rules after a restart.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { adminClientOf } from '../helpers/admin.ts';
import { startTestEdge } from '../helpers/edge.ts';
import { request, startBackend, waitFor } from '../helpers/net.ts';
import { createLogger } from '../../src/log.ts';
import { startEdge } from '../../src/main.ts';

const backendOf = async (port: number, host: string) => {
  const r = await request(port, host);
  return r.status === 200 ? JSON.parse(r.body).backend as string : r.status;
};

describe('admin API: proxies and VMs', () => {
  it('creates, reads, replaces and deletes proxies and VMs, and the edge serves each change at once', async (t) => {
    const b1 = await startBackend(t, 'b1');
    const b2 = await startBackend(t, 'b2');
    const { edge, configFile } = await startTestEdge(t, { admin: { listen: '127.0.0.1:0' } });
    const api = adminClientOf(edge.admin);
    const port = edge.httpPort!;

    const created = await api.call('PUT', '/api/v1/proxies/app.example.com', { json: { target: '127.0.0.1', targetPort: b1.port, note: 'form' } });
    assert.equal(created.status, 201);
    assert.deepEqual(created.body.changes.routesAdded, ['app.example.com']);
    assert.equal(await backendOf(port, 'app.example.com'), 'b1');
    const read = await api.call('GET', '/api/v1/proxies/App.Example.com.');
    assert.deepEqual(read.body, { domain: 'app.example.com', target: '127.0.0.1', targetPort: b1.port, note: 'form', status: 'serving' });
    assert.equal(read.headers.get('etag'), created.headers.get('etag'));

    const replaced = await api.call('PUT', '/api/v1/proxies/app.example.com', { json: { target: '127.0.0.1', targetPort: b2.port } });
    assert.equal(replaced.status, 200);
    assert.deepEqual(replaced.body.changes.routesChanged, ['app.example.com']);
    assert.equal(await backendOf(port, 'app.example.com'), 'b2');

    // A template and the VMs it resolves against.
    const wildcard = encodeURIComponent('*.user1.example.com');
    assert.equal((await api.call('PUT', `/api/v1/proxies/${wildcard}`, { json: { owner: 'user1' } })).status, 201);
    assert.equal(await backendOf(port, 'web.user1.example.com'), 404);
    const vm = await api.call('PUT', '/api/v1/vms/user1/web', { json: { ip: '127.0.0.1', port: b1.port } });
    assert.equal(vm.status, 201);
    assert.deepEqual(vm.body.changes.vmsAdded, ['user1/web']);
    assert.equal(await backendOf(port, 'web.user1.example.com'), 'b1');
    assert.deepEqual((await api.call('GET', '/api/v1/vms/user1/web')).body, { name: 'web', owner: 'user1', ip: '127.0.0.1', port: b1.port });
    assert.equal((await api.call('PUT', '/api/v1/vms/user1/web', { json: { ip: '127.0.0.1', port: b2.port, note: 'moved' } })).status, 200);
    assert.equal(await backendOf(port, 'web.user1.example.com'), 'b2');
    assert.equal((await api.call('GET', '/api/v1/vms')).body.vms.length, 1);
    assert.equal((await api.call('DELETE', '/api/v1/vms/user1/web')).status, 200);
    assert.equal(await backendOf(port, 'web.user1.example.com'), 404);

    const deleted = await api.call('DELETE', '/api/v1/proxies/app.example.com');
    assert.equal(deleted.status, 200);
    assert.deepEqual(deleted.body.changes.routesRemoved, ['app.example.com']);
    assert.equal(await backendOf(port, 'app.example.com'), 404);
    assert.equal((await api.call('GET', '/api/v1/proxies/app.example.com')).status, 404);

    const onDisk = parse(readFileSync(configFile, 'utf8'));
    assert.deepEqual(onDisk.proxies, [{ domain: '*.user1.example.com', owner: 'user1' }]);
    assert.deepEqual(onDisk.vms, []);
    const whole = await api.call('GET', '/api/v1/config');
    assert.deepEqual(whole.body.proxies, onDisk.proxies);
  });

  it('a refused write changes neither the file nor the served rules', async (t) => {
    const b = await startBackend(t, 'b');
    const { edge, configFile } = await startTestEdge(t, { admin: { listen: '127.0.0.1:0' },
      proxies: [{ domain: 'a.example.com', target: '127.0.0.1', targetPort: b.port }] });
    const api = adminClientOf(edge.admin);
    const before = readFileSync(configFile, 'utf8');
    const bad = await api.call('PUT', '/api/v1/proxies/a.example.com', { json: { target: '127.0.0.1', targetPort: 70000 } });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body.error.issues, [{ path: 'proxies[0].targetPort', message: 'expected 1-65535' }]);
    // An upload that does not exist passes the schema but not the files check: refused as a whole too.
    const upload = await api.call('PUT', '/api/v1/config', { json: { ...parse(before), proxies: [
      { domain: 'a.example.com', target: '127.0.0.1', targetPort: 1 },
      { domain: 'u.example.com', target: '127.0.0.1', ssl: true, certSource: 'upload', certFile: '/nonexistent.pem', keyFile: '/nonexistent.key' }] } });
    assert.equal(upload.status, 400);
    assert.equal(upload.body.error.code, 'EDGE_ERR_CONFIG_INVALID');
    assert.ok(upload.body.error.issues.some((i: { path: string }) => i.path.startsWith('proxies[1].')));
    assert.equal(readFileSync(configFile, 'utf8'), before);
    assert.equal(await backendOf(edge.httpPort!, 'a.example.com'), 'b');
    assert.equal(await backendOf(edge.httpPort!, 'u.example.com'), 404);
  });

  it('refuses a stale If-Match with 412, and builds on a hand edit instead of overwriting it', async (t) => {
    const b = await startBackend(t, 'b');
    const { edge, configFile } = await startTestEdge(t, { admin: { listen: '127.0.0.1:0' },
      proxies: [{ domain: 'a.example.com', target: '127.0.0.1', targetPort: b.port }] });
    const api = adminClientOf(edge.admin);
    const etag = (await api.call('GET', '/api/v1/proxies')).headers.get('etag')!;
    const first = await api.call('PUT', '/api/v1/proxies/b.example.com', { json: { target: '127.0.0.1', targetPort: b.port }, headers: { 'if-match': etag } });
    assert.equal(first.status, 201);
    const after = readFileSync(configFile, 'utf8');
    const stale = await api.call('PUT', '/api/v1/proxies/c.example.com', { json: { target: '127.0.0.1', targetPort: b.port }, headers: { 'if-match': etag } });
    assert.equal(stale.status, 412);
    assert.equal(stale.body.error.code, 'EDGE_ERR_ADMIN_PRECONDITION');
    assert.equal(readFileSync(configFile, 'utf8'), after);
    assert.equal(await backendOf(edge.httpPort!, 'c.example.com'), 404);

    // A hand edit is a new version: the ETag read before it is stale, and a write without If-Match keeps it.
    const current = first.headers.get('etag')!;
    writeFileSync(configFile, after.replace('proxies:', 'proxies:\n  - domain: hand.example.com\n    target: 127.0.0.1\n    targetPort: 9'));
    assert.equal((await api.call('DELETE', '/api/v1/proxies/b.example.com', { headers: { 'if-match': current } })).status, 412);
    assert.equal((await api.call('PUT', '/api/v1/proxies/c.example.com', { json: { target: '127.0.0.1', targetPort: b.port } })).status, 201);
    const domains = parse(readFileSync(configFile, 'utf8')).proxies.map((p: { domain: string }) => p.domain);
    assert.deepEqual(domains, ['hand.example.com', 'a.example.com', 'b.example.com', 'c.example.com']);
    assert.equal(await backendOf(edge.httpPort!, 'c.example.com'), 'b');
  });

  it('keeps every one of 50 concurrent PUTs of different proxies, in the file and in the served rules', async (t) => {
    const b = await startBackend(t, 'b');
    const { edge, configFile } = await startTestEdge(t, { admin: { listen: '127.0.0.1:0' } });
    const api = adminClientOf(edge.admin);
    const names = Array.from({ length: 50 }, (_, i) => `p${i}.example.com`);
    const replies = await Promise.all(names.map((d) => api.call('PUT', `/api/v1/proxies/${d}`, { json: { target: '127.0.0.1', targetPort: b.port } })));
    assert.deepEqual(replies.map((r) => r.status), names.map(() => 201));
    const onDisk = parse(readFileSync(configFile, 'utf8')).proxies.map((p: { domain: string }) => p.domain);
    assert.deepEqual([...onDisk].sort(), [...names].sort());
    const served = await Promise.all(names.map((d) => backendOf(edge.httpPort!, d)));
    assert.deepEqual(served, names.map(() => 'b'));
  });

  it('keeps the file\'s comments, applies its own write once, and serves the same rules after a restart', async (t) => {
    const b = await startBackend(t, 'b');
    const { edge, configFile, logs } = await startTestEdge(t, { admin: { listen: '127.0.0.1:0' } });
    const commented = `# The operator's notes.\n${readFileSync(configFile, 'utf8')}\n# VMs of user1\nvms: []\n\nproxies:\n`
      + `  # the shop, do not remove\n  - domain: shop.example.com\n    target: 127.0.0.1 # VM 12\n    targetPort: ${b.port}\n`
      + '  # old site\n  - domain: old.example.com\n    target: 127.0.0.1\n    targetPort: 9\n';
    writeFileSync(configFile, commented);
    await edge.reload('signal');
    const api = adminClientOf(edge.admin);
    assert.equal((await api.call('PUT', '/api/v1/proxies/new.example.com', { json: { target: '127.0.0.1', targetPort: b.port, note: 'from the controller' } })).status, 201);
    assert.equal((await api.call('DELETE', '/api/v1/proxies/old.example.com')).status, 200);
    assert.equal((await api.call('PUT', '/api/v1/vms/user1/web', { json: { ip: '127.0.0.1' } })).status, 201);
    const text = readFileSync(configFile, 'utf8');
    for (const comment of ['# The operator\'s notes.', '# VMs of user1', '# the shop, do not remove', 'target: 127.0.0.1 # VM 12']) {
      assert.ok(text.includes(comment), `${comment} is kept:\n${text}`);
    }
    assert.ok(!text.includes('old.example.com'));
    // The watcher sees the API's writes and leaves them: they were applied already.
    await waitFor('the watcher to see the write', () => logs.some((l) => String(l.msg).startsWith('config file changed by the admin API')));
    assert.equal(logs.filter((l) => l.msg === 'config applied' && l.source === 'file').length, 0);
    assert.equal(logs.filter((l) => l.msg === 'config applied' && l.source === 'api').length, 3);

    await edge.close(500);
    const { log } = createLogger({ level: 'silent', file: null, stdout: false });
    const again = await startEdge({ configFile, log, ephemeralPorts: true, watch: false });
    t.after(() => again.close(500));
    assert.equal(await backendOf(again.httpPort!, 'new.example.com'), 'b');
    assert.equal(await backendOf(again.httpPort!, 'shop.example.com'), 'b');
    assert.equal(await backendOf(again.httpPort!, 'old.example.com'), 404);
  });
});
