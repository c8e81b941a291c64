/**
 * Let's Encrypt for a fleet, against one real Pebble and one real Redis: a letsencrypt proxy added through
 * one edge's API is ordered once (by the edge holding the renewal lease), its HTTP-01 challenge is
 * answered by another edge (Pebble validates against that edge's port, reading the token every edge shares
 * in Redis), and every edge serves the same certificate. (An edge killed mid-order: test/faults/fleet-kill.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { acmeSection } from '../helpers/acme.ts';
import { issued, logged as msgs, startFleetEdge } from '../helpers/fleet.ts';
import { refusedPort, startBackend, waitFor } from '../helpers/net.ts';
import { pebbleSkipReason, startPebble } from '../helpers/pebble.ts';
import { startRedis } from '../helpers/redis.ts';

const skip = pebbleSkipReason();

describe('Let\'s Encrypt for a fleet (Pebble, Redis)', { skip }, () => {
  it('orders a name added through edge A once, has edge C answer the challenge, and serves one certificate on all three', async (t) => {
    // Pebble validates HTTP-01 on one port: edge C's.
    const challengePort = await refusedPort();
    const r = await startRedis(t);
    const p = await startPebble(t, { httpPort: challengePort });
    const o = { redisUrl: r.url, keyPrefix: 'acme-fleet:' };
    const a = await startFleetEdge(t, o);
    const [b, c] = await Promise.all([startFleetEdge(t, o), startFleetEdge(t, { ...o, http: challengePort })]);
    const vm = await startBackend(t, 'vm');
    assert.equal((await a.admin.call('PUT', '/api/v1/config', { json: { acme: acmeSection(p) } })).status, 200);

    const put = await a.admin.call('PUT', '/api/v1/proxies/le.example.com',
      { json: { target: '127.0.0.1', targetPort: vm.port, ssl: true, certSource: 'letsencrypt' } });
    assert.equal(put.status, 201, JSON.stringify(put.body));

    const certs = await Promise.all([a, b, c].map((e) => waitFor('the CA\'s certificate on every edge', () => issued(p, e, 'le.example.com'), 30_000)));
    assert.equal(new Set(certs.map((x) => x.fingerprint256)).size, 1, 'the same certificate on all three');
    // One order, placed by A (it holds the renewal lease: it started first); the challenge answered by C.
    assert.equal((p.output().match(/POST \/order-plz/g) ?? []).length, 1, 'Pebble saw exactly one order');
    assert.deepEqual([a, b, c].map((e) => msgs(e, 'acme order created').length), [1, 0, 0]);
    assert.ok(msgs(c, 'acme challenge answered').some((l) => String(l.host).startsWith('le.example.com')), 'edge C answered the challenge');
    assert.deepEqual([a, b].map((e) => msgs(e, 'acme challenge answered').length), [0, 0]);
  });
});
