/**
 * Renewing Let's Encrypt certificates against a real Pebble while the edge runs: by hand (`--renew-ssl`,
 * answered by the running edge), by the schedule (with an injected clock, so nobody waits for 02:00), by
 * two renewers at once, and when the CA's validation fails.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { PeerCertificate } from 'node:tls';
import { fixedClock } from '../../src/clock.ts';
import { makeSelfSigned } from '../../src/tls/selfsigned.ts';
import { makeCa, makeLeaf } from '../helpers/certs.ts';
import { runCli } from '../helpers/cli.ts';
import { startTestEdge } from '../helpers/edge.ts';
import { peerCertificate, refusedPort, startBackend, waitFor } from '../helpers/net.ts';
import { pebbleSkipReason, startPebble, type Pebble } from '../helpers/pebble.ts';
import { testCertStore } from '../helpers/storage.ts';

const skip = pebbleSkipReason();
const DAY_MS = 86_400_000;

function acmeSection(pebble: Pebble) {
  return {
    directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, agreeTos: true,
    skipChallengeVerification: true, retryMaxAttempts: 0, pollMinMs: 20, pollMaxMs: 200, pollAttempts: 50,
  };
}

async function servedByPebble(pebble: Pebble, port: number, name: string, not?: string): Promise<PeerCertificate | null> {
  const c = await peerCertificate(port, name);
  const ok = new X509Certificate(c.raw).checkIssued(new X509Certificate(await pebble.intermediatePem()));
  return ok && c.fingerprint256 !== not ? c : null;
}

describe('Let\'s Encrypt renewal (Pebble)', { skip }, () => {
  it('--renew-ssl renews a due certificate while the edge runs; the edge answers the challenge and serves the new one; two renewers issue once', async (t) => {
    const p = { http: await refusedPort(), https: await refusedPort() };
    // Certificates that live 16 seconds: due once half their lifetime is gone (the short-lifetime rule). The
    // renewed one must stay fresh while the second renewer starts and re-checks inside the lock, which on a
    // loaded machine takes seconds.
    const pebble = await startPebble(t, { httpPort: p.http, certificateValidityPeriod: 16 });
    const b = await startBackend(t, 'vm');
    const { configFile, logs } = await startTestEdge(t, {
      listen: { http: p.http, https: p.https, host: '127.0.0.1' },
      acme: acmeSection(pebble),
      proxies: [{ domain: 'app.example.com', target: '127.0.0.1', targetPort: b.port, ssl: true, certSource: 'letsencrypt' }],
    }, { ephemeralPorts: false });
    const first = await waitFor('the first certificate', () => servedByPebble(pebble, p.https, 'app.example.com'), 30_000);

    const dry = await waitFor('the certificate to be due', async () => {
      const r = await runCli(['--renew-ssl', '--dry-run', '--config', configFile]);
      return r.code === 0 && /would-renew/.test(r.stdout) ? r : null;
    }, 30_000);
    assert.match(dry.stdout, /app\.example\.com\s+letsencrypt\s+\S+ \S+\s+-\s+would-renew\s+.*lifetime/);
    assert.equal((await peerCertificate(p.https, 'app.example.com')).fingerprint256, first.fingerprint256, 'a dry run changes nothing');

    const answeredBefore = logs.filter((l) => l.msg === 'acme challenge answered').length;
    const [a, c] = await Promise.all([runCli(['--renew-ssl', '--config', configFile]), runCli(['--renew-ssl', '--config', configFile])]);
    assert.equal(a.code, 0, a.stdout + a.stderr);
    assert.equal(c.code, 0, c.stdout + c.stderr);
    const outcomes = [a.stdout, c.stdout].map((o) => /app\.example\.com\s+letsencrypt\s+.*?\s(renewed|skipped)\s/.exec(o)?.[1]).sort();
    assert.deepEqual(outcomes, ['renewed', 'skipped'], 'the second renewer re-checked inside the lock and found a fresh certificate');
    assert.ok(logs.filter((l) => l.msg === 'acme challenge answered').length > answeredBefore, 'the running edge answered the challenge');

    const renewed = await waitFor('the running edge to serve the renewed certificate',
      () => servedByPebble(pebble, p.https, 'app.example.com', first.fingerprint256), 15_000);
    assert.ok(Date.parse(renewed.valid_to) >= Date.parse(first.valid_to));
  });

  it('the scheduled job renews a due certificate and leaves a fresh one alone', async (t) => {
    const p = { http: await refusedPort(), https: await refusedPort() };
    const pebble = await startPebble(t, { httpPort: p.http, certificateValidityPeriod: 90 * 86_400 });
    const b = await startBackend(t, 'vm');
    const clock = fixedClock(new Date());
    const dir = mkdtempSync(join(tmpdir(), 'edge-acme-sched-'));
    // A self-signed certificate that is fresh even 80 days from now.
    const store = testCertStore(t, join(dir, 'certs'), clock);
    const fresh = await makeSelfSigned(['fresh.example.com'], { clock: fixedClock(new Date(Date.now() + 80 * DAY_MS)), validityDays: 365 });
    await store.write('fresh.example.com', { ...fresh, meta: { source: 'self-signed' } });
    const { logs } = await startTestEdge(t, {
      __dir: dir,
      listen: { http: p.http, https: p.https, host: '127.0.0.1' },
      acme: acmeSection(pebble),
      // Every second instead of 02:00: the schedule is configuration, the clock is injected.
      renewal: { schedule: '* * * * * *', timezone: 'UTC', renewWithinDays: 30 },
      proxies: [
        { domain: 'app.example.com', target: '127.0.0.1', targetPort: b.port, ssl: true, certSource: 'letsencrypt' },
        { domain: 'fresh.example.com', target: '127.0.0.1', targetPort: b.port, ssl: true },
      ],
    }, { ephemeralPorts: false, clock });
    const first = await waitFor('the first certificate', () => servedByPebble(pebble, p.https, 'app.example.com'), 30_000);
    const freshBefore = await peerCertificate(p.https, 'fresh.example.com');
    const scansBefore = logs.filter((l) => l.msg === 'renewal scan finished').length;
    await waitFor('a scheduled scan', () => logs.filter((l) => l.msg === 'renewal scan finished').length > scansBefore);
    assert.equal((await peerCertificate(p.https, 'app.example.com')).fingerprint256, first.fingerprint256, 'not due yet: left alone');

    clock.advanceDays(80); // 10 days of 90 left: due
    const renewed = await waitFor('the scheduled renewal', () => servedByPebble(pebble, p.https, 'app.example.com', first.fingerprint256), 30_000);
    assert.ok(renewed);
    // The store's change watcher may serve the new certificate before the scan finishes and logs it.
    await waitFor('the scan to log the renewal', () => logs.some((l) => l.msg === 'certificate stored' && l.name === 'app.example.com' && l.reason === 'scan'));
    assert.equal((await peerCertificate(p.https, 'fresh.example.com')).fingerprint256, freshBefore.fingerprint256, 'the fresh certificate was left alone');
  });

  it('a failed validation keeps the old certificate serving, records the error and backs off', async (t) => {
    // Pebble validates against a port where nothing listens: every HTTP-01 challenge fails.
    const pebble = await startPebble(t, { httpPort: await refusedPort() });
    const b = await startBackend(t, 'vm');
    const dir = mkdtempSync(join(tmpdir(), 'edge-acme-fail-'));
    const store = testCertStore(t, join(dir, 'certs'), fixedClock(new Date()));
    // The certificate issued long ago, 5 days before expiry.
    const ca = await makeCa({ cn: 'Earlier CA' });
    const old = await makeLeaf({ ca, names: ['app.example.com'], notBefore: new Date(Date.now() - 85 * DAY_MS), notAfter: new Date(Date.now() + 5 * DAY_MS) });
    await store.write('app.example.com', { certPem: old.chainPem, keyPem: old.keyPem, meta: { source: 'letsencrypt' } });
    const { edge, configFile, logs } = await startTestEdge(t, {
      __dir: dir,
      acme: acmeSection(pebble),
      proxies: [{ domain: 'app.example.com', target: '127.0.0.1', targetPort: b.port, ssl: true, certSource: 'letsencrypt' }],
    });
    const servedOld = await peerCertificate(edge.httpsPort!, 'app.example.com');
    assert.equal(servedOld.fingerprint256, new X509Certificate(old.certPem).fingerprint256);

    // The edge's scan at start found the certificate due and tried: the CA's validation failed.
    const failed = await waitFor('the start-up renewal to fail', () => logs.find((l) => l.msg === 'certificate renewal failed'), 30_000);
    assert.equal(failed.code, 'EDGE_ERR_ACME_UNAUTHORIZED');
    // The scan alerts once its run is over, a moment after the failure itself was logged.
    await waitFor('the due-and-not-renewed alert', () => logs.some((l) => l.msg === 'certificate due and not renewed' && l.name === 'app.example.com'));
    const soon = logs.filter((l) => l.msg === 'certificate expires soon');
    assert.deepEqual(soon.map((l) => [l.name, l.daysLeft]), [['app.example.com', 4]], 'one expiry warning, from the scan');
    assert.equal((await peerCertificate(edge.httpsPort!, 'app.example.com')).fingerprint256, servedOld.fingerprint256, 'the old certificate keeps serving');

    const list = await runCli(['certs', '--config', configFile]);
    assert.match(list.stdout, /app\.example\.com\s+letsencrypt\s+.*EDGE_ERR_ACME_UNAUTHORIZED/);
    // By hand, the backoff is respected; --force tries anyway, and says why it failed.
    const backedOff = await runCli(['--renew-ssl', '--config', configFile]);
    assert.equal(backedOff.code, 0, backedOff.stdout + backedOff.stderr);
    assert.match(backedOff.stdout, /app\.example\.com\s+letsencrypt\s+.*?skipped\s+.*retrying after/);
    const forced = await runCli(['--renew-ssl', '--force', '--config', configFile]);
    assert.equal(forced.code, 1, forced.stdout + forced.stderr);
    assert.match(forced.stdout, /app\.example\.com\s+letsencrypt\s+.*?failed\s+.*EDGE_ERR_ACME_UNAUTHORIZED/);
    assert.equal((await peerCertificate(edge.httpsPort!, 'app.example.com')).fingerprint256, servedOld.fingerprint256, 'still the old certificate');
    const failure = (await store.failure('app.example.com'))!;
    assert.equal(failure.lastError.code, 'EDGE_ERR_ACME_UNAUTHORIZED');
    assert.ok(Date.parse(failure.nextAttemptAt) > Date.now(), 'the next attempt is backed off');
  });
});
