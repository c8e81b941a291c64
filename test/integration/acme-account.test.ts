/**
 * The ACME account: one key per CA directory, 0600, registered once and reused by every issuer sharing the
 * certificates folder; External Account Binding against a Pebble that requires it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { accountKeys, loadOrCreateAccountKey, type AccountInfo } from '../../src/acme/account.ts';
import { createChallengeResponder, handleChallengeRequest } from '../../src/acme/challenges.ts';
import { acmeConfigSchema } from '../../src/acme/config.ts';
import { AcmeError } from '../../src/acme/errors.ts';
import { createAcmeIssuer } from '../../src/acme/issuer.ts';
import { fixedClock, type Clock } from '../../src/clock.ts';
import { silentLogger } from '../../src/log.ts';
import { pebbleSkipReason, startPebble, type Pebble } from '../helpers/pebble.ts';
import { testStorage } from '../helpers/storage.ts';

const skip = pebbleSkipReason();

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'edge-acme-account-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Pebble validating HTTP-01 against a responder on the storage of `<dir>/certs` (as the running edge would answer). */
async function pebbleFor(t: TestContext, dir: string, opts: { eabKeys?: Record<string, string> } = {}): Promise<Pebble> {
  const responder = createChallengeResponder(testStorage(t, join(dir, 'certs')));
  const server = http.createServer((req, res) => {
    void handleChallengeRequest(responder, req, res).then((handled) => { if (!handled) res.writeHead(404).end(); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return startPebble(t, { httpPort: (server.address() as AddressInfo).port, ...opts });
}

function issuer(t: TestContext, pebble: Pebble, dir: string, clock: Clock, extra: Record<string, unknown> = {}) {
  const config = acmeConfigSchema.parse({ directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, agreeTos: true,
    skipChallengeVerification: true, retryMaxAttempts: 0, pollMinMs: 20, pollMaxMs: 200, pollAttempts: 30, ...extra });
  // Its own storage client, as a separate process would have.
  const i = createAcmeIssuer({ config, storage: testStorage(t, join(dir, 'certs')), log: silentLogger(), clock });
  t.after(() => i.close());
  return i;
}

describe('ACME account', { skip }, () => {
  it('is registered once and reused by a second issuer on the same certs folder; the key is 0600', async (t) => {
    const dir = tempDir(t);
    const pebble = await pebbleFor(t, dir);
    // Where the previous version kept the account: existing installs keep theirs.
    const keys = accountKeys(pebble.directoryUrl);
    const paths = { dir: join(dir, 'certs', 'acme'), keyPath: join(dir, 'certs', keys.key), infoPath: join(dir, 'certs', keys.info) };

    await issuer(t, pebble, dir, fixedClock('2025-01-01T00:00:00Z')).issue({ name: 'one.example.com', names: ['one.example.com'] });
    const key1 = readFileSync(paths.keyPath);
    const info1 = JSON.parse(readFileSync(paths.infoPath, 'utf8')) as AccountInfo;

    // A different clock: a second registration would write a new createdAt.
    await issuer(t, pebble, dir, fixedClock('2026-06-01T00:00:00Z')).issue({ name: 'two.example.com', names: ['two.example.com'] });
    const info2 = JSON.parse(readFileSync(paths.infoPath, 'utf8')) as AccountInfo;

    assert.deepEqual(readFileSync(paths.keyPath), key1);
    assert.match(info1.accountUrl, /^https:\/\/127\.0\.0\.1:\d+\//);
    assert.equal(info2.accountUrl, info1.accountUrl);
    assert.equal(info2.createdAt, '2025-01-01T00:00:00.000Z');
    assert.equal(info2.directoryUrl, pebble.directoryUrl);
    assert.equal(statSync(paths.keyPath).mode & 0o777, 0o600);
    assert.equal(statSync(paths.dir).mode & 0o777, 0o700);
    assert.match(paths.keyPath, /\/certs\/acme\/account-[0-9a-f]{16}\.key$/);
    assert.match(key1.toString(), /BEGIN (EC )?PRIVATE KEY/);
  });

  it('registers with External Account Binding when the CA requires it, and says so when it is missing', async (t) => {
    const dir = tempDir(t);
    const hmacKey = randomBytes(32).toString('base64url');
    const pebble = await pebbleFor(t, dir, { eabKeys: { 'kid-1': hmacKey } });

    const missing = await issuer(t, pebble, join(dir, 'no-eab'), fixedClock('2025-01-01T00:00:00Z'))
      .issue({ name: 'eab.example.com', names: ['eab.example.com'] }).then(() => null, (e: unknown) => e);
    assert.ok(missing instanceof AcmeError, String(missing));
    assert.equal(missing.code, 'EDGE_ERR_ACME_ACCOUNT');
    assert.equal(missing.problemType, 'urn:ietf:params:acme:error:externalAccountRequired');

    const cert = await issuer(t, pebble, dir, fixedClock('2025-01-01T00:00:00Z'), { eab: { kid: 'kid-1', hmacKey } })
      .issue({ name: 'eab.example.com', names: ['eab.example.com'] });
    assert.match(cert.certPem, /BEGIN CERTIFICATE/);
  });
});

describe('ACME account key creation', () => {
  it('concurrent first uses (two clients, and two callers in one) end with one key, the same for all', async (t) => {
    const dir = tempDir(t);
    const one = testStorage(t, join(dir, 'certs'));
    const two = testStorage(t, join(dir, 'certs'));
    const keys = accountKeys('https://ca.example/dir');
    const [a, b, c] = await Promise.all([loadOrCreateAccountKey(one, keys, silentLogger()), loadOrCreateAccountKey(two, keys, silentLogger()),
      loadOrCreateAccountKey(one, keys, silentLogger())]);
    assert.deepEqual(a, b);
    assert.deepEqual(a, c);
    assert.deepEqual(await two.get(keys.key), a);
    assert.equal(statSync(join(dir, 'certs', keys.key)).mode & 0o777, 0o600);
    assert.notEqual(accountKeys('https://other.example/dir').key, keys.key);
  });
});
