/**
 * The edge that holds a name's lease (and the fleet's renewal lease) is SIGKILLed in the middle of an
 * order: a DNS hook that blocks on its first call makes "the middle" certain. Another edge takes the
 * renewal lease over once it lapses, waits out the dead edge's lease on the name, and finishes the
 * issuance. Real Pebble, real Redis, real processes; short leases (storage.leaseTtlMs).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { acmeSection, tempDir } from '../helpers/acme.ts';
import { issued, logged, startFleetEdge } from '../helpers/fleet.ts';
import { waitFor } from '../helpers/net.ts';
import { pebbleSkipReason, startPebble, writeDnsHook } from '../helpers/pebble.ts';
import { startRedis } from '../helpers/redis.ts';

const skip = pebbleSkipReason();

describe('an edge killed mid-order (Pebble, Redis)', { skip }, () => {
  it('leaves the name to another edge, which finishes the issuance after the leases lapse', async (t) => {
    const r = await startRedis(t);
    const p = await startPebble(t, { httpPort: 1 });
    const dir = tempDir(t);
    const dns = writeDnsHook(dir, p.mgmtUrl);
    // The first `set` waits until the edge that runs it is gone (then fails); later ones publish the record.
    const hook = join(dir, 'first-blocks.sh');
    const marker = join(dir, 'first');
    writeFileSync(hook, `#!/bin/sh\nif [ "$1" = set ] && mkdir '${marker}' 2>/dev/null; then\n  echo $PPID > '${marker}/edge.pid'\n`
      + `  while kill -0 $PPID 2>/dev/null; do sleep 0.1; done\n  exit 1\nfi\nexec '${dns.path}' "$@"\n`, { mode: 0o755 });
    const o = { redisUrl: r.url, keyPrefix: 'acme-kill:', leaseTtlMs: 2000 };
    const a = await startFleetEdge(t, o);
    const b = await startFleetEdge(t, o);
    assert.equal((await a.admin.call('PUT', '/api/v1/config', { json: {
      acme: acmeSection(p, { dnsHook: hook }),
      proxies: [{ domain: '*.kill.example.com', target: '127.0.0.1', targetPort: 9, ssl: true, certSource: 'letsencrypt' }],
    } })).status, 200);

    const holder = await waitFor('the order to reach the DNS hook', () => existsSync(join(marker, 'edge.pid')) && Number(readFileSync(join(marker, 'edge.pid'), 'utf8')), 30_000);
    assert.equal(holder, a.child.pid, 'edge A (the renewal lease holder) placed the order');
    // The log file is written asynchronously: a line can land a moment after what it tells of.
    await waitFor('edge A to log its order', () => logged(a, 'acme order created').length === 1);
    a.child.kill('SIGKILL');
    await a.exited;

    const cert = await waitFor('edge B to finish the issuance', () => issued(p, b, 'x.kill.example.com'), 45_000);
    assert.match(cert.subjectAltName ?? '', /\*\.kill\.example\.com/);
    await waitFor('edge B to log that it took the renewal lease over', () => logged(b, 'this edge runs the fleet\'s renewal scheduler now').length >= 1);
    await waitFor('edge B to log the issuance', () => b.lines().some((l) => l.msg === 'certificate renewed' && l.name === '*.kill.example.com'));
  });
});
