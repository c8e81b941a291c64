/**
 * The letsencrypt issuer against a real Pebble: HTTP-01 answered by our responder on a real listener,
 * DNS-01 for a wildcard through the hook into the mock DNS, and a validation the CA rejects.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { handleChallengeRequest, createChallengeResponder, type ChallengeResponder } from '../../src/acme/challenges.ts';
import { acmeConfigSchema, challengeDirFor } from '../../src/acme/config.ts';
import { AcmeError } from '../../src/acme/errors.ts';
import { createAcmeIssuer } from '../../src/acme/issuer.ts';
import { systemClock } from '../../src/clock.ts';
import { silentLogger } from '../../src/log.ts';
import { pebbleSkipReason, startPebble, writeDnsHook, type Pebble } from '../helpers/pebble.ts';
import { testStorage } from '../helpers/storage.ts';

const skip = pebbleSkipReason();

interface Seen { host: string | undefined; url: string | undefined }

/** An HTTP listener on 127.0.0.1:0 answering ACME challenges the way the edge's HTTP listener does. */
async function challengeListener(t: TestContext, responder: ChallengeResponder): Promise<{ port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ host: req.headers.host, url: req.url });
    void handleChallengeRequest(responder, req, res).then((handled) => { if (!handled) res.writeHead(404).end(); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { port: (server.address() as AddressInfo).port, seen };
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'edge-acme-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function issuerFor(t: TestContext, pebble: Pebble, dir: string, extra: Record<string, unknown> = {}) {
  const config = acmeConfigSchema.parse({
    directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, agreeTos: true, email: 'ops@example.com',
    // The self-check would ask the system resolver and port 80; Pebble's own validation is what we test.
    skipChallengeVerification: true, retryMaxAttempts: 0, pollMinMs: 20, pollMaxMs: 200, pollAttempts: 30, ...extra,
  });
  const issuer = createAcmeIssuer({ config, storage: testStorage(t, join(dir, 'certs')), log: silentLogger(), clock: systemClock });
  t.after(() => issuer.close());
  return issuer;
}

/** Leaf first, then the intermediate; the leaf is signed by Pebble's current intermediate and names `names`. */
async function assertChainsToPebble(pebble: Pebble, certPem: string, names: string[]): Promise<X509Certificate> {
  const pems = certPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  assert.ok(pems.length >= 2, 'leaf plus chain');
  const leaf = new X509Certificate(pems[0]!);
  const intermediate = new X509Certificate(await pebble.intermediatePem());
  assert.ok(leaf.checkIssued(intermediate) && leaf.verify(intermediate.publicKey), 'leaf signed by Pebble intermediate');
  assert.equal(new X509Certificate(pems[1]!).fingerprint256, intermediate.fingerprint256);
  for (const n of names) assert.ok(leaf.subjectAltName?.split(', ').includes(`DNS:${n}`), `SAN has ${n}: ${leaf.subjectAltName}`);
  return leaf;
}

describe('ACME issuer against Pebble', { skip }, () => {
  it('issues over HTTP-01 validated through our responder, then removes the token', async (t) => {
    const dir = tempDir(t);
    // The responder is another storage client on the same folders, as the running edge would be.
    const responderStorage = testStorage(t, join(dir, 'certs'));
    const { port, seen } = await challengeListener(t, createChallengeResponder(responderStorage));
    const pebble = await startPebble(t, { httpPort: port, certificateValidityPeriod: 10 * 86_400 });
    const issuer = issuerFor(t, pebble, dir);

    const cert = await issuer.issue({ name: 'app.example.com', names: ['app.example.com'] });

    const leaf = await assertChainsToPebble(pebble, cert.certPem, ['app.example.com']);
    const lifetimeDays = (Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)) / 86_400_000;
    assert.ok(lifetimeDays > 9 && lifetimeDays < 11, `certificateValidityPeriod honoured: ${lifetimeDays} days`);
    assert.ok(leaf.checkPrivateKey((await import('node:crypto')).createPrivateKey(cert.keyPem)));
    assert.match(cert.keyPem, /BEGIN (EC )?PRIVATE KEY/);
    // Pebble really fetched the token from us, with the port in Host (the edge must strip it when routing).
    assert.ok(seen.some((s) => s.host === `app.example.com:${port}` && s.url?.startsWith('/.well-known/acme-challenge/')));
    assert.deepEqual(await responderStorage.list('challenges'), []);
    assert.deepEqual(readdirSync(challengeDirFor({}, join(dir, 'certs'))), [], 'the token file is gone from the challenge folder');
  });

  it('issues a wildcard over DNS-01 through the DNS hook (and its apex over HTTP-01), and clears the record', async (t) => {
    const dir = tempDir(t);
    const { port } = await challengeListener(t, createChallengeResponder(testStorage(t, join(dir, 'certs'))));
    const pebble = await startPebble(t, { httpPort: port });
    const hook = writeDnsHook(dir, pebble.mgmtUrl);
    const issuer = issuerFor(t, pebble, dir, { dnsHook: hook.path });

    const names = ['*.user1.example.com', 'user1.example.com'];
    const cert = await issuer.issue({ name: '*.user1.example.com', names });

    await assertChainsToPebble(pebble, cert.certPem, names);
    const calls = readFileSync(hook.logFile, 'utf8').trim().split('\n').map((l) => l.split(' '));
    assert.equal(calls.length, 2);
    assert.deepEqual(calls.map((c) => c.slice(0, 2)), [['set', '_acme-challenge.user1.example.com'], ['clear', '_acme-challenge.user1.example.com']]);
    assert.equal(calls[0]![2], calls[1]![2], 'clear names the value that was set');
  });

  it('reports a failed HTTP-01 validation as EDGE_ERR_ACME_UNAUTHORIZED with the CA detail', async (t) => {
    const dir = tempDir(t);
    const wrong: ChallengeResponder = { answer: async () => 'not-the-key-authorization', answerPath: async () => 'not-the-key-authorization' };
    const { port } = await challengeListener(t, wrong);
    const pebble = await startPebble(t, { httpPort: port });
    const issuer = issuerFor(t, pebble, dir);

    const err = await issuer.issue({ name: 'bad.example.com', names: ['bad.example.com'] }).then(() => null, (e: unknown) => e);

    assert.ok(err instanceof AcmeError, String(err));
    assert.equal(err.code, 'EDGE_ERR_ACME_UNAUTHORIZED');
    assert.equal(err.problemType, 'urn:ietf:params:acme:error:unauthorized');
    assert.equal(err.domain, 'bad.example.com');
    assert.match(err.message, /bad\.example\.com/);
    assert.match(err.message, /not-the-key-authorization|did not match|key authorization/i);
    assert.deepEqual(readdirSync(challengeDirFor({}, join(dir, 'certs'))), [], 'token removed after failure');
  });

  it('fails a DNS-01 challenge with EDGE_ERR_ACME_DNS carrying the hook stderr, or without a hook', async (t) => {
    const dir = tempDir(t);
    const { port } = await challengeListener(t, createChallengeResponder(testStorage(t, join(dir, 'unused', 'certs'))));
    const pebble = await startPebble(t, { httpPort: port });
    const { writeFileSync } = await import('node:fs');
    const failing = join(dir, 'failing-hook.sh');
    writeFileSync(failing, '#!/bin/sh\necho "provider said: zone not found" >&2\nexit 3\n', { mode: 0o755 });

    const withHook = await issuerFor(t, pebble, dir, { dnsHook: failing })
      .issue({ name: '*.user2.example.com', names: ['*.user2.example.com'] }).then(() => null, (e: unknown) => e);
    assert.ok(withHook instanceof AcmeError, String(withHook));
    assert.equal(withHook.code, 'EDGE_ERR_ACME_DNS');
    assert.match(withHook.message, /exited with status 3: provider said: zone not found/);

    const noHook = await issuerFor(t, pebble, join(dir, 'b'))
      .issue({ name: '*.user3.example.com', names: ['*.user3.example.com'] }).then(() => null, (e: unknown) => e);
    assert.ok(noHook instanceof AcmeError, String(noHook));
    assert.equal(noHook.code, 'EDGE_ERR_ACME_DNS');
    assert.match(noHook.message, /acme\.dnsHook/);
  });

  it('reports a name the CA refuses as EDGE_ERR_ACME_REJECTED', async (t) => {
    const dir = tempDir(t);
    const { port } = await challengeListener(t, createChallengeResponder(testStorage(t, join(dir, 'unused', 'certs'))));
    const pebble = await startPebble(t, { httpPort: port, domainBlocklist: ['blocked.example'] });

    const err = await issuerFor(t, pebble, dir).issue({ name: 'www.blocked.example', names: ['www.blocked.example'] })
      .then(() => null, (e: unknown) => e);

    assert.ok(err instanceof AcmeError, String(err));
    assert.equal(err.code, 'EDGE_ERR_ACME_REJECTED');
    assert.equal(err.problemType, 'urn:ietf:params:acme:error:rejectedIdentifier');
  });
});
