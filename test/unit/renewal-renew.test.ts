import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it, type TestContext } from 'node:test';
import { fixedClock } from '../../src/clock.ts';
import { validateConfig } from '../../src/config/load.ts';
import { CertError, ErrorCodes } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { renewAll, renewalTargets, type RenewTarget } from '../../src/renewal/renew.ts';
import { buildRouteTable } from '../../src/routing/table.ts';
import type { Issuer } from '../../src/tls/issuer.ts';
import { createSelfSignedIssuer, makeSelfSigned } from '../../src/tls/selfsigned.ts';
import type { CertStore } from '../../src/tls/store.ts';
import { makeLeaf, tempDir, writeTemp, type TestLeaf } from '../helpers/certs.ts';
import { waitFor } from '../helpers/net.ts';
import { testCertStore } from '../helpers/storage.ts';

const APP: RenewTarget = { name: 'app.example.com', names: ['app.example.com'], source: 'self-signed' };
const WILD: RenewTarget = { name: '*.user1.example.com', names: ['*.user1.example.com'], source: 'self-signed' };
const OPTS = { renewWithinDays: 30 };

async function setup(t: TestContext) {
  const clock = fixedClock('2025-03-01T00:00:00Z');
  const log = silentLogger();
  const store = testCertStore(t, join(await tempDir(t), 'certs'), clock);
  const selfSigned = createSelfSignedIssuer({ clock, validityDays: 90 });
  return { clock, log, store, deps: { store, log, clock, issuers: { 'self-signed': selfSigned } } };
}

const fingerprint = async (store: CertStore, name: string) => (await store.read(name))?.meta.fingerprint256 ?? null;

describe('renewAll', () => {
  let upload: TestLeaf;
  before(async () => {
    // A 90-day certificate with 10 days left, as an operator would have uploaded it.
    upload = await makeLeaf({ names: ['shop.example.com'], notBefore: new Date(Date.now() - 80 * 86_400_000), notAfter: new Date(Date.now() + 10 * 86_400_000) });
  });

  it('issues missing certificates, then skips them while fresh, renews them when due', async (t) => {
    const { clock, store, deps } = await setup(t);
    const first = await renewAll(deps, [APP, WILD], OPTS);
    assert.deepEqual(first.map((r) => [r.name, r.action, r.reason, r.before, r.after]), [
      ['app.example.com', 'renewed', 'no certificate', null, '2025-05-30T00:00:00.000Z'],
      ['*.user1.example.com', 'renewed', 'no certificate', null, '2025-05-30T00:00:00.000Z'],
    ]);
    assert.deepEqual((await store.read('*.user1.example.com'))?.meta.names, ['*.user1.example.com']);
    const fp = await fingerprint(store, 'app.example.com');

    clock.advanceDays(50);
    const fresh = await renewAll(deps, [APP], OPTS);
    assert.deepEqual(fresh.map((r) => [r.action, r.reason]), [['skipped', 'expires in 40 days (renews within 30, from 2025-04-30)']]);
    assert.equal(await fingerprint(store, 'app.example.com'), fp);

    clock.advanceDays(20);
    const due = await renewAll(deps, [APP], OPTS);
    assert.deepEqual(due.map((r) => [r.action, r.reason, r.before, r.after]),
      [['renewed', 'expires in 20 days (within 30)', '2025-05-30T00:00:00.000Z', '2025-08-08T00:00:00.000Z']]);
    assert.notEqual(await fingerprint(store, 'app.example.com'), fp);
  });

  it('dry-run reports and changes nothing; force renews a fresh one; --domain picks one', async (t) => {
    const { store, deps } = await setup(t);
    await renewAll(deps, [APP, WILD], OPTS);
    const app = await fingerprint(store, 'app.example.com');
    const wild = await fingerprint(store, '*.user1.example.com');

    const dry = await renewAll(deps, [APP, WILD], { ...OPTS, force: true, dryRun: true });
    assert.deepEqual(dry.map((r) => r.action), ['would-renew', 'would-renew']);
    assert.match(dry[0]!.reason, /^forced \(expires in 90 days/);
    assert.equal(await fingerprint(store, 'app.example.com'), app);

    const forced = await renewAll(deps, [APP, WILD], { ...OPTS, force: true, domain: '*.User1.example.com' });
    assert.deepEqual(forced.map((r) => [r.name, r.action]), [['*.user1.example.com', 'renewed']]);
    assert.notEqual(await fingerprint(store, '*.user1.example.com'), wild);
    assert.equal(await fingerprint(store, 'app.example.com'), app);
  });

  it('reports uploaded certificates and never touches their files', async (t) => {
    const { deps } = await setup(t);
    const files = await writeTemp(t, { 'c.pem': upload.certPem, 'k.pem': upload.keyPem });
    const before = await stat(files.path('c.pem'));
    const target: RenewTarget = { name: 'shop.example.com', names: ['shop.example.com'], source: 'upload', certFile: files.path('c.pem'), keyFile: files.path('k.pem') };
    const [r] = await renewAll({ ...deps, clock: { now: () => new Date() } }, [target], { ...OPTS, force: true });
    assert.equal(r!.action, 'reported');
    assert.match(r!.reason, /^expires in (9|10) days \(within 30\): replace .*c\.pem and .*k\.pem/);
    assert.equal(await readFile(files.path('c.pem'), 'utf8'), upload.certPem);
    assert.equal((await stat(files.path('c.pem'))).mtimeMs, before.mtimeMs);
  });

  it('records a failure, keeps the old certificate, backs off unless forced', async (t) => {
    const { clock, store, deps } = await setup(t);
    await renewAll(deps, [APP], OPTS);
    const fp = await fingerprint(store, 'app.example.com');
    const broken: Issuer = { source: 'self-signed', issue: async (req) => { throw new CertError(ErrorCodes.ISSUE_FAILED, req.name, 'CA said no'); } };
    const failing = { ...deps, issuers: { 'self-signed': broken } };
    clock.advanceDays(70);
    const [r] = await renewAll(failing, [APP], OPTS);
    assert.deepEqual([r!.action, r!.error], ['failed', { code: 'EDGE_ERR_ISSUE_FAILED', message: 'CA said no' }]);
    const kept = await store.read('app.example.com');
    assert.equal(kept?.meta.fingerprint256, fp);
    const failed = await store.failure('app.example.com');
    assert.deepEqual([failed?.failures, failed?.lastError.message, failed?.lastError.code, failed?.nextAttemptAt],
      [1, 'CA said no', 'EDGE_ERR_ISSUE_FAILED', '2025-05-10T00:01:00.000Z']);

    clock.advanceDays(1);
    const [again] = await renewAll(failing, [APP], OPTS);
    assert.equal(again!.action, 'failed');
    assert.deepEqual([(await store.failure('app.example.com'))?.failures, (await store.failure('app.example.com'))?.nextAttemptAt],
      [2, '2025-05-11T00:10:00.000Z'], 'the second failure backs off longer');

    const [waiting] = await renewAll(deps, [APP], OPTS);
    assert.equal(waiting!.action, 'skipped');
    assert.match(waiting!.reason, /retrying after 2025-05-11T00:10:00.000Z \(2 failed attempt\(s\), last: CA said no\)/);
    const [forced] = await renewAll(deps, [APP], { ...OPTS, force: true });
    assert.equal(forced!.action, 'renewed');
    const after = await store.read('app.example.com');
    assert.equal(after?.meta.lastError, undefined);
    assert.equal(await store.failure('app.example.com'), null);
  });

  it('records and honours the failure of a name that never had a certificate', async (t) => {
    const { store, deps } = await setup(t);
    const broken: Issuer = { source: 'self-signed', issue: async (req) => { throw new CertError(ErrorCodes.ISSUE_FAILED, req.name, 'CA said no'); } };
    const [r] = await renewAll({ ...deps, issuers: { 'self-signed': broken } }, [WILD], OPTS);
    assert.equal(r!.action, 'failed');
    assert.equal(await store.read(WILD.name), null);
    assert.deepEqual([(await store.failure(WILD.name))?.failures, (await store.failure(WILD.name))?.source], [1, 'self-signed']);
    const [waiting] = await renewAll(deps, [WILD], OPTS);
    assert.equal(waiting!.action, 'skipped');
    assert.match(waiting!.reason, /^no certificate; retrying after 2025-03-01T00:01:00.000Z \(1 failed attempt\(s\), last: CA said no\)/);
  });

  it('honours a rate limit\'s Retry-After and records the ACME problem type', async (t) => {
    const { clock, store, deps } = await setup(t);
    await renewAll(deps, [APP], OPTS);
    const limited: Issuer = { source: 'self-signed', issue: async (req) => {
      throw Object.assign(new CertError(ErrorCodes.ACME_RATE_LIMITED, req.name, 'too many certificates'),
        { problemType: 'urn:ietf:params:acme:error:rateLimited', retryAfter: 7200 });
    } };
    clock.advanceDays(70);
    const [r] = await renewAll({ ...deps, issuers: { 'self-signed': limited } }, [APP], OPTS);
    assert.equal(r!.error?.code, 'EDGE_ERR_ACME_RATE_LIMITED');
    const failed = (await store.failure('app.example.com'))!;
    assert.equal(failed.lastError.problemType, 'urn:ietf:params:acme:error:rateLimited');
    assert.equal(Date.parse(failed.nextAttemptAt) - clock.now().getTime(), 7_200_000, 'two hours, not the one-minute backoff');
  });

  it('re-checks inside the lock and keeps what another process stored meanwhile', async (t) => {
    const { clock, store, deps } = await setup(t);
    let reads = 0;
    const watched: CertStore = { ...store, read: (n) => { reads++; return store.read(n); } };
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    let held!: () => void;
    const holding = new Promise<void>((r) => { held = r; });
    const other = store.withLock('app.example.com', async () => { held(); await gate; });
    await holding;
    const run = renewAll({ ...deps, store: watched }, [APP], OPTS);
    await waitFor('renewAll to look at the store', () => reads >= 1);
    const theirs = await makeSelfSigned(['app.example.com'], { clock, validityDays: 90 });
    await store.write('app.example.com', { ...theirs, meta: { source: 'self-signed' } });
    const stored = await fingerprint(store, 'app.example.com');
    release();
    await other;
    const [r] = await run;
    assert.equal(r!.action, 'skipped');
    assert.match(r!.reason, /^renewed by another process meanwhile/);
    assert.equal(await fingerprint(store, 'app.example.com'), stored);
  });

  it('fails clearly when no issuer serves the source, and when the lock stays busy', async (t) => {
    const { store, deps } = await setup(t);
    const le: RenewTarget = { ...APP, source: 'letsencrypt' };
    const [r] = await renewAll(deps, [le], OPTS);
    assert.deepEqual([r!.action, r!.error?.code], ['failed', 'EDGE_ERR_ISSUE_FAILED']);
    assert.match(r!.error!.message, /no issuer for certSource letsencrypt/);

    let release!: () => void;
    const gate = new Promise<void>((res) => { release = res; });
    let held!: () => void;
    const holding = new Promise<void>((res) => { held = res; });
    const other = store.withLock('app.example.com', async () => { held(); await gate; });
    await holding;
    const [locked] = await renewAll(deps, [APP], { ...OPTS, lockWaitMs: 0 });
    release();
    await other;
    assert.deepEqual([locked!.action, locked!.error?.code], ['failed', 'EDGE_ERR_CERT_LOCKED']);
    assert.equal(await store.read('app.example.com'), null);
  });
});

describe('renewalTargets', () => {
  it('lists one certificate per ssl route, wildcards by their wildcard name', () => {
    const table = buildRouteTable(validateConfig({
      vms: [{ name: 'vm1', owner: 'user1', ip: '10.0.0.9' }],
      acme: { agreeTos: true },
      proxies: [
        { domain: 'App.Example.com', target: '10.0.0.5', ssl: true },
        { domain: 'plain.example.com', target: '10.0.0.5' },
        { domain: '*.user1.example.com', owner: 'user1', ssl: true },
        { domain: 'secure.example.com', target: '10.0.0.5', ssl: true, certSource: 'letsencrypt' },
        { domain: 'shop.example.com', target: '10.0.0.6', ssl: true, certSource: 'upload', certFile: '/x/c.pem', keyFile: '/x/k.pem' },
        { domain: 'off.example.com', target: '10.0.0.6', ssl: true, enabled: false },
      ],
    }));
    const seen = renewalTargets(table).map(({ name, names, source, certFile, keyFile }) =>
      ({ name, names, source, ...(certFile ? { certFile } : {}), ...(keyFile ? { keyFile } : {}) }));
    assert.deepEqual(seen, [
      { name: 'app.example.com', names: ['app.example.com'], source: 'self-signed' },
      { name: '*.user1.example.com', names: ['*.user1.example.com'], source: 'self-signed' },
      { name: 'secure.example.com', names: ['secure.example.com'], source: 'letsencrypt' },
      { name: 'shop.example.com', names: ['shop.example.com'], source: 'upload', certFile: '/x/c.pem', keyFile: '/x/k.pem' },
    ]);
  });
});
