/**
 * The storage contract suite: what every Storage must do, written against the interface only. An
 * implementation's test file calls `storageContractSuite` with a factory; the file storage does
 * (test/integration/storage-file.test.ts) and the Redis one must pass the same suite unchanged.
 * Not a *.test.ts file: it runs only through those callers.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { describe, it } from 'node:test';
import { ErrorCodes, LockTimeoutError, StorageError } from '../../src/errors.ts';
import type { Storage } from '../../src/storage/contract.ts';
import { leaseSuite } from './contract-leases.ts';
import { watchSuite } from './contract-watch.ts';

export interface StorageFixture {
  readonly storage: Storage;
  /** A second client on the same backing store, as a second process would open it. */
  other(): Promise<Storage>;
  /** Closes every client and removes the backing store. */
  cleanup(): Promise<void>;
}

export type MakeStorage = () => Promise<StorageFixture>;
type Ctx = { after(fn: () => unknown): void };

/** A fixture whose cleanup runs after the test; `other()` clients are closed with it. */
export async function open(t: Ctx, make: MakeStorage): Promise<{ a: Storage; other(): Promise<Storage> }> {
  const f = await make();
  const others: Storage[] = [];
  t.after(async () => {
    for (const o of others) await o.close();
    await f.cleanup();
  });
  return { a: f.storage, other: async () => { const o = await f.other(); others.push(o); return o; } };
}

export const isCode = (code: string) => (e: unknown) => e instanceof StorageError && e.code === code;

export function storageContractSuite(name: string, make: MakeStorage): void {
  describe(`storage contract: ${name}`, () => {
    it('gets, puts, overwrites, stats and deletes; missing keys are null and deleting one is no error', async (t) => {
      const { a } = await open(t, make);
      assert.equal(await a.get('state/test/one.json'), null);
      assert.equal(await a.stat('state/test/one.json'), null);
      await a.delete('state/test/one.json');
      await a.put('state/test/one.json', '{"n":1}');
      assert.deepEqual(await a.get('state/test/one.json'), Buffer.from('{"n":1}'));
      const st = await a.stat('state/test/one.json');
      assert.equal(st?.size, 7);
      assert.ok(st.modified instanceof Date && !Number.isNaN(st.modified.getTime()));
      await a.put('state/test/one.json', Buffer.from('two'));
      assert.equal((await a.get('state/test/one.json'))?.toString(), 'two');
      await a.delete('state/test/one.json');
      assert.equal(await a.get('state/test/one.json'), null);
      assert.equal(await a.stat('state/test/one.json'), null);
    });

    it('keeps binary values and secrets byte for byte; a second client reads them', async (t) => {
      const { a, other } = await open(t, make);
      const b = await other();
      const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const big = randomBytes(1024 * 1024);
      await a.put('certs/bin.example.com/every', every);
      await a.put('certs/bin.example.com/key.pem', big, { secret: true });
      await a.put('challenges/Tok_en-9', 'Tok_en-9.thumb');
      assert.deepEqual(await b.get('certs/bin.example.com/every'), every);
      assert.deepEqual(await b.get('certs/bin.example.com/key.pem'), big);
      assert.equal((await b.get('challenges/Tok_en-9'))?.toString(), 'Tok_en-9.thumb');
      assert.equal((await b.stat('certs/bin.example.com/key.pem'))?.size, big.length);
    });

    it('lists every key under a prefix, recursively and sorted, and nothing from other namespaces', async (t) => {
      const { a, other } = await open(t, make);
      const b = await other();
      const keys = ['certs/b.example.com/meta.json', 'certs/a.example.com/key.pem', 'certs/a.example.com/cert.pem',
        'certs/_wildcard_.u.example.com/cert.pem', 'acme/account-1.key', 'state/renewal/a.example.com.json', 'challenges/tok'];
      for (const k of keys) await a.put(k, k);
      assert.deepEqual(await b.list('certs'), ['certs/_wildcard_.u.example.com/cert.pem', 'certs/a.example.com/cert.pem',
        'certs/a.example.com/key.pem', 'certs/b.example.com/meta.json']);
      assert.deepEqual(await b.list('certs/'), await b.list('certs'));
      assert.deepEqual(await b.list('certs/a.example.com'), ['certs/a.example.com/cert.pem', 'certs/a.example.com/key.pem']);
      assert.deepEqual(await b.list('acme'), ['acme/account-1.key']);
      assert.deepEqual(await b.list('state/renewal/'), ['state/renewal/a.example.com.json']);
      assert.deepEqual(await b.list('challenges'), ['challenges/tok']);
      assert.deepEqual(await b.list('certs/none.example.com'), []);
      await b.delete('certs/a.example.com/key.pem');
      assert.deepEqual(await a.list('certs/a.example.com'), ['certs/a.example.com/cert.pem']);
    });

    it('putAll stores a set; a set with one bad key changes nothing', async (t) => {
      const { a, other } = await open(t, make);
      const b = await other();
      await a.put('certs/set.example.com/cert.pem', 'old cert');
      await a.putAll([
        { key: 'certs/set.example.com/key.pem', value: 'new key', opts: { secret: true } },
        { key: 'certs/set.example.com/cert.pem', value: Buffer.from('new cert') },
        { key: 'state/renewal/set.example.com.json', value: '{}' },
      ]);
      assert.equal((await b.get('certs/set.example.com/key.pem'))?.toString(), 'new key');
      assert.equal((await b.get('certs/set.example.com/cert.pem'))?.toString(), 'new cert');
      assert.equal((await b.get('state/renewal/set.example.com.json'))?.toString(), '{}');
      await assert.rejects(a.putAll([
        { key: 'certs/set.example.com/cert.pem', value: 'newer cert' },
        { key: 'certs/set.example.com/../x', value: 'x' },
      ]), isCode(ErrorCodes.STORAGE_KEY));
      assert.equal((await b.get('certs/set.example.com/cert.pem'))?.toString(), 'new cert', 'nothing of a refused set was stored');
      assert.deepEqual(await b.list('certs'), ['certs/set.example.com/cert.pem', 'certs/set.example.com/key.pem']);
    });

    it('refuses malformed keys with EDGE_ERR_STORAGE_KEY before touching the backend', async (t) => {
      const { a } = await open(t, make);
      const bad = ['', 'certs', 'certs/', 'nope/x', '/certs/x', 'certs//x', 'certs/./x', 'certs/../x', 'certs/.hidden',
        'certs/a b', 'certs/caf\u00e9', 'certs/x\u0000', `certs/${'x'.repeat(256)}`, 'certs\\x'];
      for (const k of bad) {
        await assert.rejects(a.get(k), isCode(ErrorCodes.STORAGE_KEY), `get ${JSON.stringify(k)}`);
        await assert.rejects(a.put(k, 'x'), isCode(ErrorCodes.STORAGE_KEY), `put ${JSON.stringify(k)}`);
        await assert.rejects(a.delete(k), isCode(ErrorCodes.STORAGE_KEY), `delete ${JSON.stringify(k)}`);
        await assert.rejects(a.stat(k), isCode(ErrorCodes.STORAGE_KEY), `stat ${JSON.stringify(k)}`);
        await assert.rejects(a.lock(k, { waitMs: 0 }), isCode(ErrorCodes.STORAGE_KEY), `lock ${JSON.stringify(k)}`);
      }
      for (const p of ['', 'nope', 'certs/../x', 'certs/.x']) {
        await assert.rejects(a.list(p), isCode(ErrorCodes.STORAGE_KEY), `list ${JSON.stringify(p)}`);
        assert.throws(() => a.watch(p, () => {}), isCode(ErrorCodes.STORAGE_KEY), `watch ${JSON.stringify(p)}`);
      }
      assert.deepEqual(await a.list('certs'), []);
    });

    it('never lets a reader see part of a value while two clients overwrite it', async (t) => {
      const { a, other } = await open(t, make);
      const b = await other();
      // Each value is one repeated byte, so any mix of two writes is visible.
      const value = (i: number) => Buffer.alloc(256 * 1024, i);
      const key = 'certs/torn.example.com/cert.pem';
      await a.put(key, value(0));
      let reading = true;
      const seen: Buffer[] = [];
      const reader = (async () => {
        while (reading) {
          const v = await b.get(key);
          if (v) seen.push(v);
        }
      })();
      await Promise.all(Array.from({ length: 16 }, (_, i) => (i % 2 ? a : b).put(key, value(i + 1))));
      reading = false;
      await reader;
      assert.ok(seen.length > 0);
      for (const v of [...seen, (await a.get(key))!]) {
        assert.equal(v.length, 256 * 1024);
        assert.ok(v.every((x) => x === v[0]), 'a value made of two writes');
      }
    });

    leaseSuite(make);
    watchSuite(make);

    it('close releases held leases and stops the client; closing twice is fine', async (t) => {
      const { a, other } = await open(t, make);
      const b = await other();
      await a.lock('certs/closing.example.com');
      await a.close();
      const lease = await b.lock('certs/closing.example.com', { waitMs: 0 });
      await lease.release();
      await assert.rejects(a.get('state/x'), isCode(ErrorCodes.STORAGE));
      await assert.rejects(a.lock('certs/other.example.com', { waitMs: 0 }), isCode(ErrorCodes.STORAGE));
      await a.close();
    });

    it('describes itself for logs', async (t) => {
      const { a } = await open(t, make);
      assert.match(a.describe(), /^[a-z]+:\S+/);
    });
  });
}

/** Asserts `err` is a lock timeout naming another client on this host as the holder. */
export function assertHeldByOther(err: unknown): true {
  assert.ok(err instanceof LockTimeoutError, String(err));
  assert.equal(err.code, ErrorCodes.STORAGE_LOCKED);
  assert.ok(err.holder, 'the holder is named');
  assert.equal(err.holder.host, hostname());
  assert.ok(Number.isInteger(err.holder.pid));
  assert.ok(!Number.isNaN(Date.parse(err.holder.since)), err.holder.since);
  assert.ok(err.message.includes(`pid ${err.holder.pid}`), err.message);
  return true;
}
