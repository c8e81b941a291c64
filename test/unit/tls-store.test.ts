import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { before, describe, it } from 'node:test';
import { createChallengeStore } from '../../src/acme/challenges.ts';
import { fixedClock } from '../../src/clock.ts';
import { CertError, ErrorCodes } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import type { RenewalFailure } from '../../src/tls/failures.ts';
import { createCertStore, storeFolderName } from '../../src/tls/store.ts';
import { makeLeaf, tempDir, type TestLeaf } from '../helpers/certs.ts';
import { waitFor } from '../helpers/net.ts';
import { testStorage } from '../helpers/storage.ts';

const NODE = resolve('node_modules/.bin/node');
const mode = async (p: string) => (await stat(p)).mode & 0o777;
type Ctx = { after(fn: () => unknown): void };

function storeIn(t: Ctx, dir: string) {
  return createCertStore({ storage: testStorage(t, dir), log: silentLogger(), clock: fixedClock('2025-03-01T00:00:00Z') });
}

const failure = (name: string, failures: number): RenewalFailure => ({ name, source: 'letsencrypt', failures,
  nextAttemptAt: '2025-03-01T00:01:00.000Z', lastError: { at: '2025-03-01T00:00:00.000Z', code: 'EDGE_ERR_ACME_UNAUTHORIZED', message: 'DNS points elsewhere' } });

/** Another process that takes the lock on `name`, says "locked", and releases when it reads a line. */
function childLocker(t: Ctx, dir: string, name: string): { child: ChildProcess; locked: Promise<void>; exited: Promise<number | null> } {
  const code = `
    const { createCertStore } = await import(${JSON.stringify(resolve('src/tls/store.ts'))});
    const { storageFor } = await import(${JSON.stringify(resolve('src/storage/open.ts'))});
    const { silentLogger } = await import(${JSON.stringify(resolve('src/log.ts'))});
    const storage = storageFor({ certs: { dir: ${JSON.stringify(dir)} } }, silentLogger());
    const store = createCertStore({ storage, log: silentLogger(), clock: { now: () => new Date() } });
    await store.withLock(${JSON.stringify(name)}, async () => {
      process.stdout.write('locked\\n');
      await new Promise((r) => process.stdin.once('data', r));
      process.stdout.write('releasing\\n');
    });
    process.exit(0);`;
  const child = spawn(NODE, ['--input-type=module', '-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let out = '';
  const locked = new Promise<void>((res, rej) => {
    child.stdout!.on('data', (b: Buffer) => { out += b.toString(); if (out.includes('locked')) res(); });
    child.once('exit', (c) => rej(new Error(`child exited (${c}) before locking: ${out}`)));
  });
  const exited = new Promise<number | null>((res) => child.once('exit', (c) => res(c)));
  return { child, locked, exited };
}

describe('cert store', () => {
  let a: TestLeaf;
  let b: TestLeaf;
  let w: TestLeaf;
  before(async () => {
    [a, b, w] = await Promise.all([
      makeLeaf({ names: ['app.example.com'] }), makeLeaf({ names: ['app.example.com'] }), makeLeaf({ names: ['*.user1.example.com'] }),
    ]);
  });

  it('writes key, certificate and derived meta with private permissions and no temp files left', async (t) => {
    const dir = join(await tempDir(t), 'certs');
    const store = storeIn(t, dir);
    const meta = await store.write('app.example.com', { certPem: a.certPem, keyPem: a.keyPem, meta: { source: 'self-signed' } });
    const folder = join(dir, 'app.example.com');
    assert.deepEqual((await readdir(folder)).sort(), ['cert.pem', 'key.pem', 'meta.json']);
    assert.equal(await mode(dir), 0o700);
    assert.equal(await mode(folder), 0o700);
    assert.equal(await mode(join(folder, 'key.pem')), 0o600);
    assert.equal(await readFile(join(folder, 'key.pem'), 'utf8'), a.keyPem);
    assert.equal(await readFile(join(folder, 'cert.pem'), 'utf8'), a.certPem);
    const onDisk = JSON.parse(await readFile(join(folder, 'meta.json'), 'utf8'));
    assert.deepEqual(onDisk, { ...meta });
    assert.deepEqual(meta.names, ['app.example.com']);
    assert.equal(meta.storedAt, '2025-03-01T00:00:00.000Z');
    assert.match(meta.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const read = await store.read('app.example.com');
    assert.equal(read?.certPem, a.certPem);
    assert.equal(read?.meta.source, 'self-signed');
    assert.equal(await store.read('missing.example.com'), null);
  });

  it('keeps a wildcard in _wildcard_.<domain> and lists by name', async (t) => {
    const dir = await tempDir(t);
    const store = storeIn(t, dir);
    await store.write('*.user1.example.com', { certPem: w.certPem, keyPem: w.keyPem, meta: { source: 'letsencrypt' } });
    await store.write('app.example.com', { certPem: a.certPem, keyPem: a.keyPem, meta: { source: 'self-signed' } });
    assert.ok((await stat(join(dir, '_wildcard_.user1.example.com', 'cert.pem'))).isFile());
    assert.deepEqual((await store.list()).map((m) => [m.name, m.source]),
      [['*.user1.example.com', 'letsencrypt'], ['app.example.com', 'self-signed']]);
    assert.equal((await store.read('*.user1.example.com'))?.meta.names[0], '*.user1.example.com');
  });

  it('refuses names that are not DNS names (no path tricks)', () => {
    for (const bad of ['../etc', 'a/b', '', '*.*.x.com', 'a..b']) {
      assert.throws(() => storeFolderName(bad), (e: unknown) => e instanceof CertError && e.code === ErrorCodes.CERT_STORE, bad);
    }
  });

  it('refuses a key that does not match and leaves the stored certificate alone', async (t) => {
    const store = storeIn(t, await tempDir(t));
    await store.write('app.example.com', { certPem: a.certPem, keyPem: a.keyPem, meta: { source: 'self-signed' } });
    await assert.rejects(store.write('app.example.com', { certPem: b.certPem, keyPem: a.keyPem, meta: { source: 'self-signed' } }),
      (e: unknown) => e instanceof CertError && e.code === ErrorCodes.CERT_STORE && /does not match/.test(e.message));
    assert.equal((await store.read('app.example.com'))?.certPem, a.certPem);
  });

  it('treats a torn write (new key, old certificate) as missing', async (t) => {
    const dir = await tempDir(t);
    const store = storeIn(t, dir);
    await store.write('app.example.com', { certPem: a.certPem, keyPem: a.keyPem, meta: { source: 'self-signed' } });
    await writeFile(join(dir, 'app.example.com', 'key.pem'), b.keyPem);
    assert.equal(await store.read('app.example.com'), null);
  });

  it('keeps renewal failures for names with and without a certificate; storing one clears them', async (t) => {
    const store = storeIn(t, await tempDir(t));
    await store.write('app.example.com', { certPem: a.certPem, keyPem: a.keyPem, meta: { source: 'letsencrypt' } });
    assert.equal(await store.failure('app.example.com'), null);
    await store.recordFailure(failure('app.example.com', 2));
    await store.recordFailure(failure('*.new.example.com', 1));
    assert.deepEqual(await store.failure('app.example.com'), failure('app.example.com', 2));
    assert.deepEqual(await store.failure('*.new.example.com'), failure('*.new.example.com', 1));
    assert.equal((await store.failure('*.New.example.com'))?.failures, 1, 'names are case-insensitive');
    assert.deepEqual((await store.failures()).map((f) => [f.name, f.failures]), [['*.new.example.com', 1], ['app.example.com', 2]]);
    assert.equal((await store.read('app.example.com'))?.certPem, a.certPem, 'the certificate stays');
    await store.write('app.example.com', { certPem: b.certPem, keyPem: b.keyPem, meta: { source: 'letsencrypt' } });
    assert.equal(await store.failure('app.example.com'), null);
    assert.deepEqual((await store.failures()).map((f) => f.name), ['*.new.example.com']);
  });

  it('tells watchers about certificate writes, also another store\'s, but not about tokens', async (t) => {
    const dir = await tempDir(t);
    const store = storeIn(t, dir);
    const other = storeIn(t, dir);
    let changes = 0;
    const watcher = store.watch(() => { changes++; });
    t.after(() => watcher.close());
    await other.write('app.example.com', { certPem: a.certPem, keyPem: a.keyPem, meta: { source: 'self-signed' } });
    await waitFor('the first change', () => changes >= 1);
    const tokens = testStorage(t, dir);
    let tokenChanges = 0;
    const tokenWatcher = tokens.watch('challenges', () => { tokenChanges++; });
    t.after(() => tokenWatcher.close());
    const seen = changes;
    await createChallengeStore(tokens).put('tok', 'tok.thumb');
    await waitFor('the token watcher to see the token', () => tokenChanges >= 1);
    await other.write('app.example.com', { certPem: b.certPem, keyPem: b.keyPem, meta: { source: 'self-signed' } });
    await waitFor('the second change', () => changes > seen);
    assert.match(store.describe(), /^file:/);
  });

  it('serialises two lockers in one process', async (t) => {
    const dir = await tempDir(t);
    const store = storeIn(t, dir);
    const events: string[] = [];
    const section = (who: string) => store.withLock('app.example.com', async () => {
      events.push(`enter ${who}`);
      await store.write('app.example.com', { certPem: a.certPem, keyPem: a.keyPem, meta: { source: 'self-signed' } });
      events.push(`exit ${who}`);
    });
    await Promise.all([section('one'), section('two')]);
    assert.equal(events.length, 4);
    assert.equal(events[0]!.replace('enter', 'exit'), events[1]);
    assert.equal(events[2]!.replace('enter', 'exit'), events[3]);
    assert.deepEqual(await readdir(join(dir, '.locks')), []);
  });

  it('a second attempt in this process waits for the first, and its timeout does not blame this pid', async (t) => {
    const store = storeIn(t, await tempDir(t));
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    let held!: () => void;
    const holding = new Promise<void>((r) => { held = r; });
    const first = store.withLock('app.example.com', async () => { held(); await gate; return 'first'; });
    await holding;
    const err = await store.withLock('app.example.com', async () => 'never', { waitMs: 50 }).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof CertError && err.code === ErrorCodes.CERT_LOCKED, String(err));
    assert.match(err.message, /^certificate app\.example\.com is locked by this process/);
    assert.doesNotMatch(err.message, new RegExp(`pid ${process.pid}\\b`));
    const second = store.withLock('app.example.com', async () => 'second', { waitMs: 30_000 });
    release();
    assert.deepEqual(await Promise.all([first, second]), ['first', 'second']);
  });

  it('waits for a lock held by another process, times out naming it, then gets it on release', async (t) => {
    const dir = await tempDir(t);
    const store = storeIn(t, dir);
    const other = childLocker(t, dir, '*.user1.example.com');
    await other.locked;
    await assert.rejects(store.withLock('*.user1.example.com', async () => 'never', { waitMs: 0 }),
      (e: unknown) => e instanceof CertError && e.code === ErrorCodes.CERT_LOCKED && e.message.includes(`pid ${other.child.pid}`));
    const events: string[] = [];
    other.child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('releasing')) events.push('child released'); });
    const mine = store.withLock('*.user1.example.com', async () => { events.push('parent entered'); return 'got it'; }, { waitMs: 30_000 });
    other.child.stdin!.write('go\n');
    assert.equal(await mine, 'got it');
    assert.deepEqual(events, ['child released', 'parent entered']);
    assert.equal(await other.exited, 0);
  });

  it('takes over the lock of a process that died holding it', async (t) => {
    const dir = await tempDir(t);
    const store = storeIn(t, dir);
    const other = childLocker(t, dir, 'app.example.com');
    await other.locked;
    other.child.kill('SIGKILL');
    await other.exited;
    assert.deepEqual(await readdir(join(dir, '.locks')), ['app.example.com.lock']);
    assert.equal(await store.withLock('app.example.com', async () => 'mine', { waitMs: 10_000 }), 'mine');
  });
});
