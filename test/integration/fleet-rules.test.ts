/**
 * Three edge processes on one Redis with config.source: redis: a rule written through any edge's API is
 * served by every edge; two writes made from the same version through different edges cannot both land;
 * a version some edge refuses (a forward port another edge of the host holds) is reported by the edge
 * that wrote it. Real processes, a real redis-server, real HTTP.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { type FleetEdge, plainProxy, servedBy, startFleetEdge } from '../helpers/fleet.ts';
import { refusedPort, startBackend, waitFor } from '../helpers/net.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';

const hooks: Array<() => unknown> = [];
after(async () => { for (const h of hooks.reverse()) await h(); });
const ctx = { after: (fn: () => unknown) => { hooks.push(fn); } };
let redis: Promise<TestRedis> | null = null;
let edges: Promise<FleetEdge[]> | null = null;
const prefix = `rules-${randomBytes(3).toString('hex')}:`;
/** One Redis and one fleet of three edges for the file (each test uses names of its own). */
const fleet = () => (edges ??= (async () => {
  const r = await (redis ??= startRedis(ctx));
  const o = { redisUrl: r.url, keyPrefix: prefix };
  // One after the other: the first one takes the renewal lease, as an operator's first edge would.
  const a = await startFleetEdge(ctx, o);
  return [a, ...await Promise.all([startFleetEdge(ctx, o), startFleetEdge(ctx, o)])];
})());

describe('a fleet of three edges on one Redis', () => {
  it('serves a rule changed through edge B on A and C, pushed without a restart (the bench measures how fast)', async (t) => {
    const [a, b, c] = await fleet();
    const one = await startBackend(t, 'one');
    const two = await startBackend(t, 'two');

    const put = await b!.admin.call('PUT', '/api/v1/proxies/app.example.com', { json: plainProxy(one.port) });
    assert.equal(put.status, 201, JSON.stringify(put.body));
    assert.equal(put.body.source, 'api');
    for (const e of [a!, c!]) await waitFor('the new rule on every edge', async () => await servedBy(e, 'app.example.com') === 'one');

    const moved = await b!.admin.call('PUT', '/api/v1/proxies/app.example.com', { json: plainProxy(two.port) });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    for (const e of [a!, c!]) await waitFor('the changed rule on every edge', async () => await servedBy(e, 'app.example.com') === 'two');
    // The write's answer says how the edges took the version (those that had not said within 2 s: pending).
    assert.equal(moved.body.fleet.applied.length + moved.body.fleet.pending.length, 3, JSON.stringify(moved.body.fleet));
    assert.equal(moved.body.fleet.refused.length, 0);
    const status = await a!.admin.call('GET', '/api/v1/status');
    assert.equal(status.body.config.source, 'redis');
    assert.equal(status.body.fleet.running.version, moved.body.fleet.version);
    assert.equal(status.headers.get('etag'), moved.headers.get('etag'));
  });

  it('takes one of two writes made from the same ETag through different edges; the other gets 412', async () => {
    const [a, , c] = await fleet();
    const read = await a!.admin.call('GET', '/api/v1/config');
    const etag = read.headers.get('etag')!;
    const [ra, rc] = await Promise.all([
      a!.admin.call('PUT', '/api/v1/proxies/race-a.example.com', { json: plainProxy(9), headers: { 'if-match': etag } }),
      c!.admin.call('PUT', '/api/v1/proxies/race-c.example.com', { json: plainProxy(9), headers: { 'if-match': etag } }),
    ]);
    assert.deepEqual([ra.status, rc.status].sort(), [201, 412], `${JSON.stringify(ra.body)} ${JSON.stringify(rc.body)}`);
    const loser = ra.status === 412 ? ra : rc;
    assert.equal(loser.body.error.code, 'EDGE_ERR_ADMIN_PRECONDITION');
    const doc = (await c!.admin.call('GET', '/api/v1/config')).body;
    const domains = (doc.proxies as Array<{ domain: string }>).map((p) => p.domain);
    assert.equal(domains.filter((d) => d.startsWith('race-')).length, 1, 'exactly one of the two writes landed');
  });

  it('has an edge with workers: 2 join the fleet: it serves the fleet\'s rules, and writes through it reach the others', async (t) => {
    const [a] = await fleet();
    const one = await startBackend(t, 'one');
    const two = await startBackend(t, 'two');
    assert.equal((await a!.admin.call('PUT', '/api/v1/proxies/before.example.com', { json: plainProxy(one.port) })).status, 201);
    const w = await startFleetEdge(t, { redisUrl: (await redis!).url, keyPrefix: prefix, extra: { workers: 2 } });
    assert.equal((await w.admin.call('GET', '/api/v1/status')).body.mode, 'workers');
    await waitFor('the rules written before it started, on both workers', async () => {
      for (let i = 0; i < 4; i++) if (await servedBy(w, 'before.example.com') !== 'one') return false;
      return true;
    });
    const put = await w.admin.call('PUT', '/api/v1/proxies/workers.example.com', { json: plainProxy(two.port) });
    assert.equal(put.status, 201, JSON.stringify(put.body));
    assert.equal(put.body.fleet.refused.length, 0, JSON.stringify(put.body.fleet));
    await waitFor('the rule on the workers edge and on A', async () => await servedBy(w, 'workers.example.com') === 'two' && await servedBy(a!, 'workers.example.com') === 'two');
    w.child.kill('SIGTERM');
    assert.equal(await w.exited, 0);
  });

  it('reports a version another edge refuses through the API of the edge that wrote it', async () => {
    const [a, b, c] = await fleet();
    // Every edge of this host binds the forward: the first one gets the port, the others cannot.
    const port = await refusedPort();
    const put = await a!.admin.call('PUT', `/api/v1/forwards/tcp/${port}`, { json: { listen: '127.0.0.1', target: '127.0.0.1', targetPort: 9 } });
    assert.equal(put.status, 201, JSON.stringify(put.body));
    // The answer names the edges that refused it (or, slower than 2 s to say, as pending); the writer's status
    // names them with their reason.
    const refusedBy = (put.body.fleet.refused as Array<{ edge: string; code: string; issues: Array<{ path: string }> }>);
    assert.equal(refusedBy.length + put.body.fleet.pending.length, 2, JSON.stringify(put.body.fleet));
    type EdgeView = { edge: string; refused: { version: number; code: string; issues: Array<{ path: string }> } | null };
    const refusals = await waitFor('the writer\'s status to list both refusals', async () => {
      const edges = (await a!.admin.call('GET', '/api/v1/status')).body.fleet.edges as EdgeView[];
      const r = edges.filter((e) => e.refused?.version === put.body.fleet.version);
      return r.length === 2 ? r : null;
    });
    for (const r of [...refusedBy, ...refusals.map((e) => ({ edge: e.edge, ...e.refused! }))]) {
      assert.equal(r.code, 'EDGE_ERR_CONFIG_INVALID');
      assert.ok(r.issues.some((i) => i.path === 'forwards[0].port'), JSON.stringify(r.issues));
    }
    assert.ok(refusedBy.every((r) => refusals.some((e) => e.edge === r.edge)));
    // The refusing edges keep serving the version before, and say so.
    for (const e of [b!, c!]) {
      const ready = await e.admin.call('GET', '/readyz');
      assert.equal(ready.status, 200);
      assert.equal(ready.body.status, 'degraded');
      assert.match(ready.body.reasons.join(' '), /serves fleet version \d+, not the current/);
    }
    // Removing the forward is a version every edge takes again.
    const del = await a!.admin.call('DELETE', `/api/v1/forwards/tcp/${port}`);
    assert.equal(del.status, 200);
    assert.equal(del.body.fleet.refused.length, 0, JSON.stringify(del.body.fleet));
    for (const e of [b!, c!]) await waitFor('the edge to serve the current version', async () => (await e.admin.call('GET', '/readyz')).body.status === 'ready');
  });
});
