/**
 * The file storage: the contract suite, then what only files show. Permissions, today's on-disk layout (an
 * install made by the previous version keeps its certificates), and locks left behind by crashes, full disks,
 * dead and restarted processes, with real child processes where a second process is needed.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { ErrorCodes, StorageError } from '../../src/errors.ts';
import { fixedClock } from '../../src/clock.ts';
import { silentLogger } from '../../src/log.ts';
import { createFileStorage } from '../../src/storage/file.ts';
import { createCertStore } from '../../src/tls/store.ts';
import { makeLeaf, tempDir } from '../helpers/certs.ts';
import { waitFor } from '../helpers/net.ts';
import { assertHeldByOther, storageContractSuite } from '../storage/contract.ts';

const NODE = resolve('node_modules/.bin/node');
type Ctx = { after(fn: () => unknown): void };
const mode = async (p: string) => (await stat(p)).mode & 0o777;

async function dirs(t: Ctx) {
  const root = await tempDir(t, 'edge-storage-');
  return { root, dir: join(root, 'certs'), challengeDir: join(root, 'acme-challenges') };
}

function openIn(d: { dir: string; challengeDir: string }) {
  return createFileStorage({ ...d, log: silentLogger(), pollIntervalMs: 50, lockPollMs: 20 });
}

/** New folders and a storage on them, closed after the test. */
async function fresh(t: Ctx) {
  const d = await dirs(t);
  const s = openIn(d);
  t.after(() => s.close());
  return { d, s };
}

storageContractSuite('file', async () => {
  const cleanups: Array<() => unknown> = [];
  const d = await dirs({ after: (fn) => { cleanups.push(fn); } });
  const storage = openIn(d);
  return {
    storage,
    other: async () => openIn(d),
    cleanup: async () => {
      await storage.close();
      for (const c of cleanups) await c();
    },
  };
});

/** Another process holding lock `name` on the same folders; it prints "locked" and then waits to be killed. */
function childHolder(t: Ctx, d: { dir: string; challengeDir: string }, name: string) {
  const code = `
    const { createFileStorage } = await import(${JSON.stringify(resolve('src/storage/file.ts'))});
    const { silentLogger } = await import(${JSON.stringify(resolve('src/log.ts'))});
    const s = createFileStorage({ dir: ${JSON.stringify(d.dir)}, challengeDir: ${JSON.stringify(d.challengeDir)}, log: silentLogger() });
    await s.lock(${JSON.stringify(name)});
    process.stdout.write('locked\\n');
    setInterval(() => {}, 1000);`;
  const child = spawn(NODE, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const locked = new Promise<void>((res, rej) => {
    child.stdout!.on('data', (b: Buffer) => { if (b.toString().includes('locked')) res(); });
    child.once('exit', (c) => rej(new Error(`child exited (${c}) before locking`)));
  });
  return { child, locked, exited };
}

/** Writes a lock file for `certs/<folder>` by hand, as another (or an older) process would have left it. */
async function plantLock(dir: string, folder: string, body: string, ageMs = 0): Promise<string> {
  await mkdir(join(dir, '.locks'), { recursive: true });
  const file = join(dir, '.locks', `${folder}.lock`);
  await writeFile(file, body);
  if (ageMs) {
    const then = new Date(Date.now() - ageMs);
    await utimes(file, then, then);
  }
  return file;
}

describe('file storage on disk', () => {
  it('keeps secrets 0600 and folders 0700; the challenge folder holds tokens only, 0755', async (t) => {
    const { d, s } = await fresh(t);
    await s.put('certs/app.example.com/key.pem', 'KEY', { secret: true });
    await s.put('certs/app.example.com/cert.pem', 'CERT');
    await s.put('acme/account-1.key', 'ACCOUNT', { secret: true });
    await s.put('state/renewal/app.example.com.json', '{}');
    await s.put('challenges/tok', 'tok.thumb');
    const lease = await s.lock('certs/app.example.com');
    t.after(() => lease.release());
    for (const folder of [d.dir, join(d.dir, 'app.example.com'), join(d.dir, 'acme'), join(d.dir, '.state'), join(d.dir, '.locks')]) {
      assert.equal(await mode(folder), 0o700, folder);
    }
    assert.equal(await mode(join(d.dir, 'app.example.com', 'key.pem')), 0o600);
    assert.equal(await mode(join(d.dir, 'acme', 'account-1.key')), 0o600);
    assert.equal(await mode(join(d.dir, 'app.example.com', 'cert.pem')), 0o644);
    assert.equal(await mode(d.challengeDir), 0o755);
    assert.deepEqual(await readdir(d.challengeDir), ['tok']);
    assert.deepEqual((await readdir(join(d.dir, 'app.example.com'))).sort(), ['cert.pem', 'key.pem'], 'no temp files left');
  });

  it('lays keys out as the previous version did, with a generation file per namespace', async (t) => {
    const { d, s } = await fresh(t);
    await s.put('certs/_wildcard_.u.example.com/cert.pem', 'W');
    await s.put('acme/account-abc.json', 'A');
    await s.put('state/renewal/x.json', 'S');
    await s.put('challenges/Tok-1', 'T');
    assert.equal(await readFile(join(d.dir, '_wildcard_.u.example.com', 'cert.pem'), 'utf8'), 'W');
    assert.equal(await readFile(join(d.dir, 'acme', 'account-abc.json'), 'utf8'), 'A');
    assert.equal(await readFile(join(d.dir, '.state', 'renewal', 'x.json'), 'utf8'), 'S');
    assert.equal(await readFile(join(d.challengeDir, 'Tok-1'), 'utf8'), 'T');
    const certsGeneration = await readFile(join(d.dir, '.generation'), 'utf8');
    await s.put('challenges/Tok-2', 'T');
    assert.equal(await readFile(join(d.dir, '.generation'), 'utf8'), certsGeneration, 'a token does not touch the certificates generation');
    assert.ok((await readdir(d.dir)).includes('.generation-challenges'));
    const lease = await s.lock('certs/app.example.com');
    const body = JSON.parse(await readFile(join(d.dir, '.locks', 'app.example.com.lock'), 'utf8'));
    assert.deepEqual([body.pid, body.host, body.token], [process.pid, hostname(), lease.token]);
    await lease.release();
    assert.deepEqual(await readdir(join(d.dir, '.locks')), []);
    await (await s.lock('acme/account-abc')).release();
    assert.ok((await stat(join(d.dir, '.locks', 'acme'))).isDirectory());
  });

  it('reads a certificate folder the previous version wrote, with the renewal failure it kept in meta.json', async (t) => {
    const d = await dirs(t);
    const leaf = await makeLeaf({ names: ['*.u.example.com'] });
    // What the previous version left: 0700 folders, a 0600 key, meta.json with the failure fields, a lock.
    const folder = join(d.dir, '_wildcard_.u.example.com');
    await mkdir(folder, { recursive: true, mode: 0o700 });
    await writeFile(join(folder, 'key.pem'), leaf.keyPem, { mode: 0o600 });
    await writeFile(join(folder, 'cert.pem'), leaf.certPem);
    const x = new X509Certificate(leaf.certPem);
    const lastError = { at: '2025-03-01T00:00:00.000Z', code: 'EDGE_ERR_ACME_UNAUTHORIZED', message: 'DNS points elsewhere' };
    await writeFile(join(folder, 'meta.json'), JSON.stringify({ name: '*.u.example.com', source: 'letsencrypt', names: ['*.u.example.com'],
      notBefore: new Date(x.validFrom).toISOString(), notAfter: new Date(x.validTo).toISOString(), issuer: x.issuer,
      fingerprint256: x.fingerprint256, storedAt: '2025-01-01T00:00:00.000Z', lastError, failures: 3, nextAttemptAt: '2025-03-01T01:40:00.000Z' }));
    await writeFile(join(d.dir, '.generation'), 'earlier\n');

    const s = openIn(d);
    t.after(() => s.close());
    const store = createCertStore({ storage: s, log: silentLogger(), clock: fixedClock('2025-03-01T00:30:00Z') });
    const read = await store.read('*.u.example.com');
    assert.equal(read?.keyPem, leaf.keyPem);
    assert.equal(read?.meta.fingerprint256, x.fingerprint256);
    assert.deepEqual((await store.list()).map((m) => m.name), ['*.u.example.com']);
    assert.deepEqual(await store.failure('*.u.example.com'),
      { name: '*.u.example.com', source: 'letsencrypt', failures: 3, lastError, nextAttemptAt: '2025-03-01T01:40:00.000Z' });
    // The next write is in the new form: no failure fields in meta.json, and the failure is gone.
    await store.write('*.u.example.com', { certPem: leaf.certPem, keyPem: leaf.keyPem, meta: { source: 'letsencrypt' } });
    assert.equal(JSON.parse(await readFile(join(folder, 'meta.json'), 'utf8')).lastError, undefined);
    assert.equal(await store.failure('*.u.example.com'), null);
  });

  it('refuses a challenge folder inside the certificates folder, and certs/acme (the account folder)', async (t) => {
    const d = await dirs(t);
    assert.throws(() => openIn({ dir: d.dir, challengeDir: join(d.dir, 'challenges') }),
      (e: unknown) => e instanceof StorageError && /inside .*where private keys live/.test(e.message));
    assert.throws(() => openIn({ dir: d.dir, challengeDir: d.dir }), StorageError);
    const s = openIn(d);
    t.after(() => s.close());
    await assert.rejects(s.put('certs/acme/x', 'x'), (e: unknown) => e instanceof StorageError && e.code === ErrorCodes.STORAGE_KEY);
  });

  it('never reads through a symlink, so a planted link cannot serve a private key', async (t) => {
    const { d, s } = await fresh(t);
    await s.put('certs/app.example.com/key.pem', 'PRIVATE', { secret: true });
    await s.put('challenges/real', 'ok');
    await symlink(join(d.dir, 'app.example.com', 'key.pem'), join(d.challengeDir, 'linked'));
    await assert.rejects(s.get('challenges/linked'), (e: unknown) => e instanceof StorageError && /symbolic link/.test(e.message));
    await assert.rejects(s.stat('challenges/linked'), StorageError);
    assert.deepEqual(await s.list('challenges'), ['challenges/real']);
  });

  it('an empty or garbled lock file (a full disk, an older version) does not block for long', async (t) => {
    const { d, s } = await fresh(t);
    await plantLock(d.dir, 'empty.example.com', '');
    await plantLock(d.dir, 'garbled.example.com', '{"pid": 12');
    await (await s.lock('certs/empty.example.com', { waitMs: 15_000 })).release();
    await (await s.lock('certs/garbled.example.com', { waitMs: 15_000 })).release();
  });

  it('takes over at once the lock of a dead pid, or of this pid from an earlier start (a restarted container)', async (t) => {
    const { d, s } = await fresh(t);
    const gone = spawn(NODE, ['-e', '']);
    await new Promise((r) => gone.once('exit', r));
    const body = (pid: number, started: number) => JSON.stringify({ pid, host: hostname(), token: 't', since: new Date().toISOString(), ttlMs: 600_000, started });
    await plantLock(d.dir, 'dead.example.com', body(gone.pid!, 1));
    await plantLock(d.dir, 'restarted.example.com', body(process.pid, 1));
    await (await s.lock('certs/dead.example.com', { waitMs: 0 })).release();
    await (await s.lock('certs/restarted.example.com', { waitMs: 0 })).release();
  });

  it('honours a live lock of the previous version for its 10 minutes, then takes it over', async (t) => {
    const { d, s } = await fresh(t);
    const legacy = JSON.stringify({ pid: process.pid, host: hostname(), token: 'old', at: '2025-03-01T00:00:00.000Z' });
    const file = await plantLock(d.dir, 'legacy.example.com', legacy, 5 * 60_000);
    await assert.rejects(s.lock('certs/legacy.example.com', { waitMs: 0 }), (e: unknown) => assertHeldByOther(e)
      && (e as Error).message.includes('since 2025-03-01T00:00:00.000Z'));
    const old = new Date(Date.now() - 11 * 60_000);
    await utimes(file, old, old);
    await (await s.lock('certs/legacy.example.com', { waitMs: 0 })).release();
  });

  it('a process killed while holding a lock does not block the next one', async (t) => {
    const { d, s } = await fresh(t);
    const holder = childHolder(t, d, 'certs/app.example.com');
    await holder.locked;
    await assert.rejects(s.lock('certs/app.example.com', { waitMs: 0 }),
      (e: unknown) => assertHeldByOther(e) && (e as Error).message.includes(`pid ${holder.child.pid}`));
    holder.child.kill('SIGKILL');
    await holder.exited;
    await (await s.lock('certs/app.example.com', { waitMs: 0 })).release();
  });

  it('a lease whose lock file disappears is reported lost by its next refresh', async (t) => {
    const { d, s } = await fresh(t);
    const lease = await s.lock('certs/lost.example.com', { ttlMs: 300 });
    await rm(join(d.dir, '.locks', 'lost.example.com.lock'));
    await waitFor('the lease to be lost', () => lease.lost.aborted);
    assert.equal((lease.lost.reason as StorageError).code, ErrorCodes.STORAGE_LEASE_LOST);
    await lease.release();
  });

  it('a watcher hears a put made by another process', async (t) => {
    const { d, s } = await fresh(t);
    let changes = 0;
    const w = s.watch('certs', () => { changes++; });
    t.after(() => w.close());
    const code = `
      const { createFileStorage } = await import(${JSON.stringify(resolve('src/storage/file.ts'))});
      const { silentLogger } = await import(${JSON.stringify(resolve('src/log.ts'))});
      const s = createFileStorage({ dir: ${JSON.stringify(d.dir)}, challengeDir: ${JSON.stringify(d.challengeDir)}, log: silentLogger() });
      await s.put('certs/child.example.com/cert.pem', 'from the child');
      await s.close();`;
    const child = spawn(NODE, ['--input-type=module', '-e', code], { stdio: 'inherit' });
    assert.equal(await new Promise((r) => child.once('exit', r)), 0);
    await waitFor('the change to be seen', () => changes > 0);
    assert.equal((await s.get('certs/child.example.com/cert.pem'))?.toString(), 'from the child');
  });
});
