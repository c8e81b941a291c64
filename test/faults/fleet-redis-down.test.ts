/**
 * A fleet whose Redis goes away: the edges keep serving what they have and say they are degraded (200 on
 * /readyz, idcs_edge_storage_up 0), an API write is refused 503 instead of being accepted and lost, an
 * edge restarted meanwhile starts on its local copy, and once Redis is back (empty: the test server keeps
 * nothing) the edges reconnect, write back the fleet document they know, and serve a new change.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fleetEdgeFile, launchFleetEdge, plainProxy, servedBy } from '../helpers/fleet.ts';
import { parseMetrics, sample } from '../helpers/metrics.ts';
import { startBackend, waitFor } from '../helpers/net.ts';
import { startRedis } from '../helpers/redis.ts';

describe('a fleet whose Redis is stopped for a while', () => {
  it('keeps serving, refuses writes, starts from the local copy, and catches up when Redis is back', async (t) => {
    const redis = await startRedis(t);
    const o = { redisUrl: redis.url, keyPrefix: 'outage:', leaseTtlMs: 2000 };
    const fileA = await fleetEdgeFile(t, o);
    const fileB = await fleetEdgeFile(t, o);
    const a = await launchFleetEdge(t, fileA);
    let b = await launchFleetEdge(t, fileB);
    const one = await startBackend(t, 'one');
    const two = await startBackend(t, 'two');
    assert.equal((await a.admin.call('PUT', '/api/v1/proxies/app.example.com', { json: plainProxy(one.port) })).status, 201);
    await waitFor('the rule on B', async () => await servedBy(b, 'app.example.com') === 'one');

    await redis.stop();
    const degraded = await waitFor('A to report the outage', async () => {
      const r = await a.admin.call('GET', '/readyz');
      return r.body.status === 'degraded' ? r : null;
    });
    assert.equal(degraded.status, 200, 'degraded is still ready: the edge serves');
    assert.match(degraded.body.reasons.join(' '), /cannot be reached/);
    const scraped = await a.admin.call('GET', '/metrics');
    assert.equal(scraped.status, 200, JSON.stringify(scraped.body));
    assert.equal(sample(parseMetrics(scraped.body as string), 'idcs_edge_storage_up'), 0);
    for (const e of [a, b]) assert.equal(await servedBy(e, 'app.example.com'), 'one', 'served while Redis is down');

    const refused = await a.admin.call('PUT', '/api/v1/proxies/new.example.com', { json: plainProxy(two.port) });
    assert.equal(refused.status, 503);
    assert.equal(refused.body.error.code, 'EDGE_ERR_FLEET_UNAVAILABLE');
    const listed = await a.admin.call('GET', '/api/v1/proxies');
    assert.deepEqual(listed.body.proxies.map((p: { domain: string }) => p.domain), ['app.example.com'], 'reads answer the version the edge knows');

    // An edge restarted during the outage starts on its local copy of the rules and certificates.
    b.child.kill('SIGTERM');
    assert.equal(await b.exited, 0);
    b = await launchFleetEdge(t, fileB);
    assert.equal(await servedBy(b, 'app.example.com'), 'one', 'started from the local copy');
    assert.ok(b.lines().some((l) => l.msg === 'redis unreachable at start: serving this edge\'s local copy, retrying'));

    await redis.start();
    for (const e of [a, b]) {
      await waitFor('the edge to reconnect', async () => (await e.admin.call('GET', '/readyz')).body.status === 'ready', 15_000);
    }
    // Redis came back empty: one of the edges wrote back the version they run.
    await waitFor('the fleet document to be restored', () => [a, b].some((e) => e.lines().some((l) => /restored the version this edge knows/.test(String(l.msg)))));
    const put = await b.admin.call('PUT', '/api/v1/proxies/new.example.com', { json: plainProxy(two.port) });
    assert.equal(put.status, 201, JSON.stringify(put.body));
    for (const e of [a, b]) {
      await waitFor('the new rule on every edge', async () => await servedBy(e, 'new.example.com') === 'two');
      assert.equal(await servedBy(e, 'app.example.com'), 'one', 'the rules from before the outage are kept');
    }
  });
});
