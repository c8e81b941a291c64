/**
 * Let's Encrypt through the whole edge, against a real Pebble on loopback with real validation: Pebble
 * fetches HTTP-01 tokens from the edge's own HTTP listener and looks DNS-01 records up in challtestsrv.
 * Everything is judged by the certificate a TLS client receives from the edge.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { PeerCertificate } from 'node:tls';
import { fixedClock } from '../../src/clock.ts';
import { startTestEdge } from '../helpers/edge.ts';
import { peerCertificate, refusedPort, request, startBackend, waitFor } from '../helpers/net.ts';
import { pebbleSkipReason, startPebble, writeDnsHook, type Pebble } from '../helpers/pebble.ts';
import { testCertStore } from '../helpers/storage.ts';

const skip = pebbleSkipReason();

function acmeSection(pebble: Pebble, extra: Record<string, unknown> = {}) {
  return {
    directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, agreeTos: true, email: 'ops@example.com',
    skipChallengeVerification: true, retryMaxAttempts: 0, pollMinMs: 20, pollMaxMs: 200, pollAttempts: 50, ...extra,
  };
}

async function issuedByPebble(pebble: Pebble, c: PeerCertificate): Promise<boolean> {
  const leaf = new X509Certificate(c.raw);
  return leaf.checkIssued(new X509Certificate(await pebble.intermediatePem()));
}

const sans = (c: PeerCertificate) => (c.subjectaltname ?? '').split(', ').map((s) => s.replace(/^DNS:/, ''));

/** Free ports for an edge whose HTTP port Pebble must know before the edge starts. */
async function ports() {
  return { http: await refusedPort(), https: await refusedPort() };
}

describe('Let\'s Encrypt through the edge (Pebble)', { skip }, () => {
  it('serves a self-signed stand-in while issuing, then the CA\'s certificate, after HTTP-01 on the edge\'s own listener', async (t) => {
    const p = await ports();
    const pebble = await startPebble(t, { httpPort: p.http });
    const b = await startBackend(t, 'vm');
    const doc = {
      listen: { http: p.http, https: p.https, host: '127.0.0.1' },
      acme: acmeSection(pebble),
      proxies: [{ domain: 'app.example.com', target: '127.0.0.1', targetPort: b.port, ssl: true, certSource: 'letsencrypt' }],
    };
    // Hold the certificate's lock, as a second renewer would: issuance must wait, and the handshake must not.
    const dir = mkdtempSync(join(tmpdir(), 'edge-acme-edge-'));
    const store = testCertStore(t, join(dir, 'certs'), fixedClock(new Date()));
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => { locked = r; });
    const lock = store.withLock('app.example.com', async () => { locked(); await held; });
    await isLocked;
    const { logs } = await startTestEdge(t, { ...doc, __dir: dir }, { ephemeralPorts: false });

    const standIn = await peerCertificate(p.https, 'app.example.com');
    assert.deepEqual(sans(standIn), ['app.example.com']);
    assert.equal(await issuedByPebble(pebble, standIn), false, 'a self-signed stand-in while the CA has not answered');
    const r1 = await request(p.https, 'app.example.com', { https: true });
    assert.equal(r1.status, 200, 'the site works meanwhile');

    release();
    await lock;
    const real = await waitFor('the CA certificate to be served', async () => {
      const c = await peerCertificate(p.https, 'app.example.com');
      return (await issuedByPebble(pebble, c)) ? c : null;
    }, 30_000);
    assert.deepEqual(sans(real), ['app.example.com']);
    // Pebble fetched the token from the edge's HTTP listener (with Host: name:port).
    assert.ok(logs.some((l) => l.msg === 'acme challenge answered' && String(l.host).startsWith('app.example.com')));
    const r2 = await request(p.https, 'app.example.com', { https: true, ca: await pebble.rootsPem() + await pebble.intermediatePem() });
    assert.equal(r2.status, 200, 'the served chain verifies against Pebble\'s root');
  });

  it('gets one wildcard certificate for a template through the DNS hook', async (t) => {
    const p = await ports();
    const pebble = await startPebble(t, { httpPort: p.http });
    const web1 = await startBackend(t, 'web1');
    const dir = mkdtempSync(join(tmpdir(), 'edge-acme-dns-'));
    const hook = writeDnsHook(dir, pebble.mgmtUrl);
    await startTestEdge(t, {
      __dir: dir,
      listen: { http: p.http, https: p.https, host: '127.0.0.1' },
      acme: acmeSection(pebble, { dnsHook: hook.path }),
      vms: [{ name: 'web1', owner: 'user1', ip: '127.0.0.1', port: web1.port }],
      proxies: [{ domain: '*.user1.example.com', owner: 'user1', ssl: true, certSource: 'letsencrypt' }],
    }, { ephemeralPorts: false });
    const c = await waitFor('the wildcard certificate', async () => {
      const got = await peerCertificate(p.https, 'web1.user1.example.com');
      return (await issuedByPebble(pebble, got)) ? got : null;
    }, 30_000);
    assert.deepEqual(sans(c), ['*.user1.example.com']);
    assert.match(readFileSync(hook.logFile, 'utf8'), /^set _acme-challenge\.user1\.example\.com /m);
    const r = await request(p.https, 'web1.user1.example.com', { https: true });
    assert.equal(JSON.parse(r.body).backend, 'web1');
  });

  it('without a DNS hook, a template gets an HTTP-01 certificate per existing VM, and none for unknown names', async (t) => {
    const p = await ports();
    const pebble = await startPebble(t, { httpPort: p.http });
    const web1 = await startBackend(t, 'web1');
    const web2 = await startBackend(t, 'web2');
    const vms = [{ name: 'web1', owner: 'user1', ip: '127.0.0.1', port: web1.port }];
    const proxies = [{ domain: '*.user1.example.com', owner: 'user1', ssl: true, certSource: 'letsencrypt' }];
    const base = { listen: { http: p.http, https: p.https, host: '127.0.0.1' }, acme: acmeSection(pebble) };
    const { writeConfig } = await startTestEdge(t, { ...base, vms, proxies }, { ephemeralPorts: false });
    const c1 = await waitFor('web1\'s certificate', async () => {
      const got = await peerCertificate(p.https, 'web1.user1.example.com');
      return (await issuedByPebble(pebble, got)) ? got : null;
    }, 30_000);
    assert.deepEqual(sans(c1), ['web1.user1.example.com']);
    // A VM that appears later gets its certificate without a restart.
    writeConfig({ ...base, vms: [...vms, { name: 'web2', owner: 'user1', ip: '127.0.0.1', port: web2.port }], proxies });
    const c2 = await waitFor('web2\'s certificate', async () => {
      const got = await peerCertificate(p.https, 'web2.user1.example.com');
      return (await issuedByPebble(pebble, got)) ? got : null;
    }, 30_000);
    assert.deepEqual(sans(c2), ['web2.user1.example.com']);
    // A name no VM has is never sent to the CA.
    const ghost = await peerCertificate(p.https, 'ghost.user1.example.com');
    assert.equal(await issuedByPebble(pebble, ghost), false);
  });
});
