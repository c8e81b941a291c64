/**
 * The self-check of a challenge, against a real Pebble and its mock DNS (challtestsrv as acme.resolvers):
 * a name whose DNS points at a host that accepts and never answers, and a DNS hook that publishes the
 * wrong TXT value, both fail with EDGE_ERR_ACME_SELF_CHECK within selfCheckTimeoutMs, saying what was
 * tried, and the CA is never asked to validate (the challenge is still pending at Pebble). A correct setup
 * issues with the self-check on, for HTTP-01 and DNS-01.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { accountKeys, readAccountInfo } from '../../src/acme/account.ts';
import { createAcmeClient, createAcmeTransport } from '../../src/acme/client.ts';
import { AcmeError } from '../../src/acme/errors.ts';
import { systemClock } from '../../src/clock.ts';
import { acmeSection, tempDir, testIssuer } from '../helpers/acme.ts';
import { startTestEdge } from '../helpers/edge.ts';
import { peerCertificate, refusedPort, startBackend, waitFor } from '../helpers/net.ts';
import { pebbleSkipReason, setARecord, startPebble, writeDnsHook, type Pebble } from '../helpers/pebble.ts';
import { testStorage } from '../helpers/storage.ts';

const skip = pebbleSkipReason();

/** A TCP server on 127.0.0.2 that accepts and never answers; keeps what it was sent. */
async function blackHole(t: { after(fn: () => unknown): void }): Promise<{ port: number; received: () => string }> {
  let received = '';
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('data', (d) => { received += d.toString(); });
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.2', () => r()));
  t.after(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }));
  return { port: (server.address() as net.AddressInfo).port, received: () => received };
}

/** The status of every challenge of the order logged by the issuer, asked of Pebble with the issuer's own account. */
async function challengeStatuses(t: { after(fn: () => unknown): void }, pebble: Pebble, dir: string, lines: Array<Record<string, unknown>>) {
  const orderUrl = lines.find((l) => l.msg === 'acme order created')?.order as string;
  assert.ok(orderUrl, 'an order was created');
  const storage = testStorage(t, join(dir, 'certs'));
  const keys = accountKeys(pebble.directoryUrl);
  const transport = createAcmeTransport({ directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, requestTimeoutMs: 5_000,
    retryMaxAttempts: 0, maxRetryAfterSeconds: 0, retryMinMs: 10, retryMaxMs: 10, clock: systemClock });
  t.after(() => transport.close());
  const client = createAcmeClient({ directoryUrl: pebble.directoryUrl, accountKey: (await storage.get(keys.key))!,
    accountUrl: (await readAccountInfo(storage, keys))!.accountUrl, pollMinMs: 10, pollMaxMs: 10, pollAttempts: 1 });
  return transport.run('check', async () => {
    const order = await client.getOrder({ url: orderUrl } as Parameters<typeof client.getOrder>[0]);
    const authzs = await client.getAuthorizations(order);
    return { order: order.status, challenges: authzs.flatMap((a) => a.challenges.map((c) => c.status)) };
  });
}

describe('ACME self-check (Pebble + mock DNS)', { skip }, () => {
  it('HTTP-01: a name pointing at a host that never answers fails EDGE_ERR_ACME_SELF_CHECK within the deadline; the CA is never asked', async (t) => {
    const dir = tempDir(t);
    const hole = await blackHole(t);
    // Were Pebble asked, it would validate at the same address and port.
    const pebble = await startPebble(t, { httpPort: hole.port });
    await setARecord(pebble, 'stuck.example.com', ['127.0.0.2']);
    const { issuer, lines } = testIssuer(t, dir, acmeSection(pebble, {
      skipChallengeVerification: false, resolvers: [pebble.dnsAddress], selfCheckHttpPort: hole.port, selfCheckTimeoutMs: 1_000,
    }));

    const err = await issuer.issue({ name: 'stuck.example.com', names: ['stuck.example.com'] }).then(() => null, (e: unknown) => e);

    assert.ok(err instanceof AcmeError, String(err));
    assert.equal(err.code, 'EDGE_ERR_ACME_SELF_CHECK');
    assert.match(err.message, new RegExp(`stuck\\.example\\.com resolves to 127\\.0\\.0\\.2 via ${pebble.dnsAddress.replace(/\./g, '\\.')} \\(acme\\.resolvers\\); `
      + `GET http://stuck\\.example\\.com:${hole.port}/\\.well-known/acme-challenge/\\S+ at 127\\.0\\.0\\.2: `
      + 'no answer within 1000 ms \\(acme\\.selfCheckTimeoutMs\\)'));
    assert.match(err.message, /skipChallengeVerification/);
    assert.match(hole.received(), /^GET \/\.well-known\/acme-challenge\/.*user-agent: idcs-edge-self-check/is);
    const atCa = await challengeStatuses(t, pebble, dir, lines);
    assert.equal(atCa.order, 'pending', JSON.stringify(atCa));
    assert.ok(atCa.challenges.length > 0 && atCa.challenges.every((c) => c === 'pending'), `no challenge was submitted: ${JSON.stringify(atCa)}`);
  });

  it('DNS-01: a hook that publishes the wrong TXT value fails EDGE_ERR_ACME_SELF_CHECK naming the resolver and what it saw', async (t) => {
    const dir = tempDir(t);
    const pebble = await startPebble(t, { httpPort: await refusedPort() });
    const right = writeDnsHook(dir, pebble.mgmtUrl);
    // Calls the real hook with another value: the record exists, with the wrong digest.
    const wrong = join(dir, 'wrong-hook.sh');
    writeFileSync(wrong, `#!/bin/sh\nexec ${right.path} "$1" "$2" not-the-digest\n`, { mode: 0o755 });
    const { issuer, lines } = testIssuer(t, dir, acmeSection(pebble, {
      skipChallengeVerification: false, resolvers: [pebble.dnsAddress], selfCheckTimeoutMs: 1_000, dnsHook: wrong,
    }));

    const err = await issuer.issue({ name: '*.user1.example.com', names: ['*.user1.example.com'] }).then(() => null, (e: unknown) => e);

    assert.ok(err instanceof AcmeError, String(err));
    assert.equal(err.code, 'EDGE_ERR_ACME_SELF_CHECK');
    assert.match(err.message, new RegExp(`DNS-01 challenge for _acme-challenge\\.user1\\.example\\.com .* via ${pebble.dnsAddress.replace(/\./g, '\\.')} `
      + '\\(acme\\.resolvers\\) within 1000 ms \\(acme\\.selfCheckTimeoutMs\\) saw TXT "not-the-digest", not the expected "[\\w-]{43}"'));
    const atCa = await challengeStatuses(t, pebble, dir, lines);
    assert.ok(atCa.challenges.every((c) => c === 'pending'), `no challenge was submitted: ${JSON.stringify(atCa)}`);
  });

  it('a correct setup issues with the self-check on: HTTP-01 through the edge\'s own listener, DNS-01 through the hook', async (t) => {
    const p = { http: await refusedPort(), https: await refusedPort() };
    const pebble = await startPebble(t, { httpPort: p.http });
    const vm = await startBackend(t, 'vm');
    const dir = tempDir(t);
    const hook = writeDnsHook(dir, pebble.mgmtUrl);
    const { logs } = await startTestEdge(t, {
      __dir: dir,
      listen: { http: p.http, https: p.https, host: '127.0.0.1' },
      // challtestsrv answers every A query with 127.0.0.1, where the edge listens.
      acme: acmeSection(pebble, { skipChallengeVerification: false, resolvers: [pebble.dnsAddress], selfCheckHttpPort: p.http, dnsHook: hook.path }),
      proxies: [
        { domain: 'app.example.com', target: '127.0.0.1', targetPort: vm.port, ssl: true, certSource: 'letsencrypt' },
        { domain: '*.user2.example.com', target: '127.0.0.1', targetPort: vm.port, ssl: true, certSource: 'letsencrypt' },
      ],
    }, { ephemeralPorts: false });
    const intermediate = new X509Certificate(await pebble.intermediatePem());
    for (const name of ['app.example.com', 'www.user2.example.com']) {
      await waitFor(`${name}'s certificate from Pebble`, async () =>
        new X509Certificate((await peerCertificate(p.https, name)).raw).checkIssued(intermediate), 30_000);
    }
    const passed = logs.filter((l) => l.msg === 'acme self-check passed').map((l) => l.type).sort();
    assert.deepEqual(passed, ['dns-01', 'http-01']);
  });
});
