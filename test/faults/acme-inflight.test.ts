/**
 * One process never waits on itself: at start the renewal scan and the on-demand request both ask for a
 * missing certificate. With a slow issuance (a DNS hook that takes a second) and a lock wait far shorter
 * than that, the second one must join the attempt in flight: one order at Pebble, both get the result, and
 * no EDGE_ERR_CERT_LOCKED naming the edge's own pid.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { acmeSection, tempDir } from '../helpers/acme.ts';
import { startTestEdge } from '../helpers/edge.ts';
import { peerCertificate, refusedPort, waitFor } from '../helpers/net.ts';
import { pebbleSkipReason, startPebble, writeDnsHook } from '../helpers/pebble.ts';

const skip = pebbleSkipReason();

describe('two attempts at one name in one process (Pebble)', { skip }, () => {
  it('the second joins the first: one order, both callers get the certificate', async (t) => {
    const p = { http: await refusedPort(), https: await refusedPort() };
    const pebble = await startPebble(t, { httpPort: p.http });
    const dir = tempDir(t);
    const hook = writeDnsHook(dir, pebble.mgmtUrl);
    const slow = join(dir, 'slow-hook.sh');
    writeFileSync(slow, `#!/bin/sh\n[ "$1" = set ] && sleep 1\nexec '${hook.path}' "$@"\n`, { mode: 0o755 });
    const { logs } = await startTestEdge(t, {
      __dir: dir,
      listen: { http: p.http, https: p.https, host: '127.0.0.1' },
      renewal: { lockWaitMs: 200 },
      acme: acmeSection(pebble, { dnsHook: slow }),
      proxies: [{ domain: '*.user1.example.com', target: '127.0.0.1', targetPort: 1, ssl: true, certSource: 'letsencrypt' }],
    }, { ephemeralPorts: false });

    const intermediate = new X509Certificate(await pebble.intermediatePem());
    await waitFor('the wildcard certificate from Pebble', async () =>
      new X509Certificate((await peerCertificate(p.https, 'a.user1.example.com')).raw).checkIssued(intermediate), 30_000);
    // Both callers report the stored certificate: the start scan and the on-demand request.
    const stored = () => logs.filter((l) => l.msg === 'certificate stored' && l.name === '*.user1.example.com' && l.reason).map((l) => l.reason).sort();
    await waitFor('both callers to report the certificate', () => stored().length === 2, 10_000);
    assert.deepEqual(stored(), ['on demand', 'start']);
    assert.ok(logs.some((l) => l.msg === 'joining the certificate attempt in flight'));
    assert.equal(logs.filter((l) => l.msg === 'acme order created').length, 1, 'one order at the CA');
    assert.equal(readFileSync(hook.logFile, 'utf8').split('\n').filter((l) => l.startsWith('set ')).length, 1);
    assert.deepEqual(logs.filter((l) => l.msg === 'certificate renewal failed'), []);
  });
});
