/**
 * The Redis storage: the same contract suite as the file storage, against a real redis-server, then what
 * only Redis shows: private keys encrypted at rest, and an outage (writes refused, not queued; watchers
 * told to re-read after the reconnect).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { ErrorCodes, StorageError } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { createRedisStorage, type RedisStorage } from '../../src/storage/redis.ts';
import { waitFor } from '../helpers/net.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { storageContractSuite } from '../storage/contract.ts';

const hooks: Array<() => unknown> = [];
after(async () => { for (const h of hooks.reverse()) await h(); });
let shared: Promise<TestRedis> | null = null;
const redis = () => (shared ??= startRedis({ after: (fn) => { hooks.push(fn); } }));

const openAt = (url: string, keyPrefix: string, extra: Partial<Parameters<typeof createRedisStorage>[0]> = {}) =>
  createRedisStorage({ url, keyPrefix, log: silentLogger(), lockPollMs: 20, timeoutMs: 1000, ...extra });

storageContractSuite('redis', async () => {
  const r = await redis();
  // A prefix per fixture keeps the suite's tests apart on one server.
  const prefix = `t-${randomBytes(4).toString('hex')}:`;
  const storage = await openAt(r.url, prefix);
  return { storage, other: () => openAt(r.url, prefix), cleanup: () => storage.close() };
});

describe('redis storage', () => {
  it('stores secrets AES-256-GCM encrypted when an encryption key is set; plain values stay readable', async (t) => {
    const r = await redis();
    const key = randomBytes(32);
    const s = await openAt(r.url, 'enc:', { encryptionKey: key });
    t.after(() => s.close());
    // A real key, made here: nothing private is committed.
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    await s.put('certs/a.example.com/key.pem', pem, { secret: true });
    await s.put('certs/a.example.com/cert.pem', 'public');
    assert.equal((await s.get('certs/a.example.com/key.pem'))?.toString(), pem);
    const raw = new Redis(r.url);
    t.after(() => raw.quit());
    const stored = await raw.hgetBuffer('enc:v:certs/a.example.com/key.pem', 'd');
    assert.ok(stored && !stored.toString('latin1').includes('PRIVATE KEY'), 'the key is not stored in the clear');
    assert.equal((await raw.hget('enc:v:certs/a.example.com/cert.pem', 'd')), 'public');
    // Without the key, the secret cannot be read back: an error, never garbage.
    const noKey = await openAt(r.url, 'enc:');
    t.after(() => noKey.close());
    await assert.rejects(noKey.get('certs/a.example.com/key.pem'), (e) => e instanceof StorageError && /encryptionKeyFile/.test(e.message));
  });

  it('refuses writes while Redis is down, and tells watchers to re-read once it is back', async (t) => {
    const r = await startRedis(t);
    const s: RedisStorage = await openAt(r.url, 'down:');
    t.after(() => s.close());
    let changes = 0;
    s.watch('certs', () => { changes++; });
    await s.put('certs/x/meta.json', '1');
    await waitFor('the first change to be seen', () => changes >= 1);
    await r.stop();
    await waitFor('the client to notice', () => !s.connected());
    await assert.rejects(s.put('certs/x/meta.json', '2'), (e) => e instanceof StorageError && e.code === ErrorCodes.STORAGE);
    const before = changes;
    await r.start();
    await waitFor('the client to reconnect', () => s.connected(), 15_000);
    await waitFor('watchers to be told to re-read', () => changes > before, 15_000);
    // Redis came back empty (nothing persisted): the storage works again.
    await s.put('certs/x/meta.json', '3');
    assert.equal((await s.get('certs/x/meta.json'))?.toString(), '3');
  });

  it('stores with compare-and-set on a tag: one of two writers from the same tag wins, and watchers hear of it', async (t) => {
    const r = await redis();
    const s = await openAt(r.url, `cas-${randomBytes(3).toString('hex')}:`);
    t.after(() => s.close());
    let changes = 0;
    s.watch('state/fleet', () => { changes++; });
    assert.equal(await s.putIfTag('state/fleet/config', null, '"1"', 'one'), true);
    assert.equal(await s.putIfTag('state/fleet/config', null, '"1b"', 'not stored'), false, 'the key exists now');
    const both = await Promise.all([s.putIfTag('state/fleet/config', '"1"', '"2a"', 'a'), s.putIfTag('state/fleet/config', '"1"', '"2b"', 'b')]);
    assert.deepEqual(both.sort(), [false, true]);
    assert.match((await s.get('state/fleet/config'))!.toString(), /^[ab]$/);
    await waitFor('watchers to hear of the conditional writes', () => changes >= 2);
    // A plain put leaves no tag: no conditional write matches it until one sets a tag again.
    await s.put('state/fleet/config', 'plain');
    assert.equal(await s.putIfTag('state/fleet/config', '"2a"', '"3"', 'x'), false);
    assert.equal(await s.putIfTag('state/fleet/config', '"2b"', '"3"', 'x'), false);
    assert.equal((await s.get('state/fleet/config'))?.toString(), 'plain');
  });

  it('works as an ACL user limited to its prefix, with the password given apart from the URL (storage.passwordFile)', async (t) => {
    const r = await redis();
    const admin = new Redis(r.url);
    t.after(() => admin.quit());
    // The ACL the README recommends.
    await admin.call('ACL', 'SETUSER', 'edge', 'on', '>s3cret', 'resetkeys', '~acl:*', 'resetchannels', '&acl:*', '-@all', '+@read', '+@write',
      '+@pubsub', '+@transaction', '+@scripting', '+ping', '+info');
    const url = r.url.replace('redis://', 'redis://edge@');
    const s = await openAt(url, 'acl:', { password: 's3cret' });
    t.after(() => s.close());
    let seen = 0;
    s.watch('certs', () => { seen++; });
    await s.putAll([{ key: 'certs/a/cert.pem', value: 'c' }, { key: 'certs/a/key.pem', value: 'k', opts: { secret: true } }]);
    assert.deepEqual(await s.list('certs'), ['certs/a/cert.pem', 'certs/a/key.pem']);
    assert.equal(await s.putIfTag('state/fleet/config', null, '"1"', 'doc'), true);
    const lease = await s.lock('certs/a');
    await lease.refresh();
    await lease.release();
    await waitFor('the change notice on the user\'s channel', () => seen > 0);
    await assert.rejects(openAt(url, 'acl:', { password: 'wrong' }), (e) => e instanceof StorageError);
  });

  it('starts without Redis when told to, and works once Redis is there', async (t) => {
    const r = await startRedis(t);
    await r.stop();
    const s = await openAt(r.url, 'late:', { requireConnection: false });
    t.after(() => s.close());
    assert.equal(s.connected(), false);
    await assert.rejects(s.put('certs/x/meta.json', '1'), (e) => e instanceof StorageError && e.code === ErrorCodes.STORAGE);
    let told = 0;
    s.watch('certs', () => { told++; });
    await r.start();
    await waitFor('the client to connect', () => s.connected(), 15_000);
    await waitFor('watchers to be told to read', () => told > 0, 15_000);
    await s.put('certs/x/meta.json', '2');
    assert.equal((await s.get('certs/x/meta.json'))?.toString(), '2');
  });

  it('cannot be opened when Redis is unreachable: a clear error, not a hang', async () => {
    await assert.rejects(openAt('redis://127.0.0.1:1/0', 'x:'), (e) => e instanceof StorageError && /cannot reach redis:\/\/127\.0\.0\.1:1\/0/.test(e.message));
  });
});
