/**
 * Let's Encrypt for a fleet, against one real Pebble and one real Redis: a letsencrypt proxy added through
 * one edge's API is ordered once (by the edge holding the renewal lease), its HTTP-01 challenge is
 * answered by another edge (Pebble validates against that edge's port, reading the token every edge shares
 * in Redis), and every edge serves the same certificate. An edge killed in the middle of an order leaves
 * the name to another edge once its leases lapse.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { acmeSection, tempDir } from '../helpers/acme.ts';
import { type FleetEdge, startFleetEdge } from '../helpers/fleet.ts';
import { peerCertificate, refusedPort, startBackend, waitFor } from '../helpers/net.ts';
import { pebbleSkipReason, startPebble, writeDnsHook, type Pebble } from '../helpers/pebble.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';

const skip = pebbleSkipReason();
const hooks: Array<() => unknown> = [];
after(async () => { for (const h of hooks.reverse()) await h(); });
const ctx = { after: (fn: () => unknown) => { hooks.push(fn); } };
let redis: Promise<TestRedis> | null = null;
// Pebble validates HTTP-01 on one port: the HTTP port of the first test's third edge.
const challengePort = refusedPort();
let pebble: Promise<Pebble> | null = null;
const shared = async () => ({ redis: await (redis ??= startRedis(ctx)), pebble: await (pebble ??= startPebble(ctx, { httpPort: await challengePort })) });

/** The certificate `edge` serves for `name` when Pebble issued it, else null. */
async function issued(p: Pebble, edge: FleetEdge, name: string): Promise<X509Certificate | null> {
  const leaf = new X509Certificate((await peerCertificate(edge.https, name)).raw);
  return leaf.checkIssued(new X509Certificate(await p.intermediatePem())) ? leaf : null;
}

const msgs = (e: FleetEdge, msg: string) => e.lines().filter((l) => l.msg === msg);

describe('Let\'s Encrypt for a fleet (Pebble, Redis)', { skip }, () => {
  it('orders a name added through edge A once, has edge C answer the challenge, and serves one certificate on all three', async (t) => {
    const { redis: r, pebble: p } = await shared();
    const o = { redisUrl: r.url, keyPrefix: 'acme-fleet:' };
    const a = await startFleetEdge(ctx, o);
    const [b, c] = await Promise.all([startFleetEdge(ctx, o), startFleetEdge(ctx, { ...o, http: await challengePort })]);
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

  it('finishes an order on another edge after the edge holding the name\'s lease is killed mid-order', async (t) => {
    const { redis: r, pebble: p } = await shared();
    const dir = tempDir(t);
    const dns = writeDnsHook(dir, p.mgmtUrl);
    // The first `set` blocks until the edge that runs it is gone (and then fails); later ones publish.
    const hook = join(dir, 'first-blocks.sh');
    const marker = join(dir, 'first');
    writeFileSync(hook, `#!/bin/sh\nif [ "$1" = set ] && mkdir '${marker}' 2>/dev/null; then\n  echo $PPID > '${marker}/edge.pid'\n`
      + `  while kill -0 $PPID 2>/dev/null; do sleep 0.1; done\n  exit 1\nfi\nexec '${dns.path}' "$@"\n`, { mode: 0o755 });
    const o = { redisUrl: r.url, keyPrefix: 'acme-kill:', leaseTtlMs: 2000 };
    const a = await startFleetEdge(ctx, o);
    const b = await startFleetEdge(ctx, o);
    assert.equal((await a.admin.call('PUT', '/api/v1/config', { json: {
      acme: acmeSection(p, { dnsHook: hook }),
      proxies: [{ domain: '*.kill.example.com', target: '127.0.0.1', targetPort: 9, ssl: true, certSource: 'letsencrypt' }],
    } })).status, 200);

    const holder = await waitFor('the order to reach the DNS hook', () => existsSync(join(marker, 'edge.pid')) && Number(readFileSync(join(marker, 'edge.pid'), 'utf8')), 30_000);
    assert.equal(holder, a.child.pid, 'edge A (the renewal lease holder) placed the order');
    a.child.kill('SIGKILL');
    await a.exited;

    const cert = await waitFor('edge B to finish the issuance', () => issued(p, b, 'x.kill.example.com'), 45_000);
    assert.match(cert.subjectAltName ?? '', /\*\.kill\.example\.com/);
    assert.ok(msgs(b, 'this edge runs the fleet\'s renewal scheduler now').length >= 1, 'B took the renewal lease over');
    assert.ok(b.lines().some((l) => l.msg === 'certificate renewed' && l.name === '*.kill.example.com'));
  });
});
