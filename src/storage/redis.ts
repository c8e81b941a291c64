/**
 * The Redis implementation of the storage contract, so several edges share certificates, the ACME account,
 * HTTP-01 tokens, renewal state and leases. Layout under `keyPrefix` (several fleets can share one Redis):
 *   v:<key>        a hash: d (the value), m (modified, ms), n (plain size), x ("1" when d is encrypted)
 *   idx:<ns>       a sorted set of the keys of a namespace (list() reads it by range; no SCAN over the db)
 *   lease:<name>   a lease record (JSON), SET NX PX: it expires by itself when its holder stops refreshing
 *   chg:<ns>       a pub/sub channel; every put/delete publishes its key, in the same MULTI as the write
 * Values and their index change in one MULTI, so readers see the old value or the new one. Commands fail
 * fast while Redis is unreachable (no offline queue: an accepted write is never left waiting in memory), the
 * client reconnects with backoff, and watchers are told to re-read after a reconnect, since changes made
 * meanwhile were not seen. Secrets may be encrypted at rest with AES-256-GCM (`storage.encryptionKeyFile`).
 * Beyond the contract: `connected()`, and a compare-and-set put on a tag kept with the value (one Lua
 * script), which the fleet document's versions are written with.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { ErrorCodes, StorageError, type LeaseHolder } from '../errors.ts';
import type { Logger } from '../log.ts';
import { checkKey, type Namespace, type PutOptions, type Storage, type Watcher, storageOps } from './contract.ts';
import { createLeaseManager, type LeaseBackend, type LeaseRecord } from './leases.ts';

export interface RedisStorageOptions {
  /** `redis://[user:password@]host:port/db` or `rediss://` for TLS. */
  readonly url: string;
  /** Overrides a password in the URL (from `storage.passwordFile`). */
  readonly password?: string | undefined;
  readonly keyPrefix: string;
  /** 32 bytes: private keys (puts with `secret: true`) are stored AES-256-GCM encrypted. */
  readonly encryptionKey?: Buffer | undefined;
  /** Extra PEM CA for a `rediss://` server with a private CA. */
  readonly caPem?: string | undefined;
  readonly log: Logger;
  /** Deadline of one command and of the first connection (default 5 s). */
  readonly timeoutMs?: number;
  readonly lockPollMs?: number;
  /** The TTL of a lease taken without one (default 30 s). */
  readonly leaseTtlMs?: number;
  /**
   * false: when Redis cannot be reached in time, resolve anyway with a storage whose commands fail until the
   * client, reconnecting with backoff, gets through (a running edge starts on its local copy). Default true:
   * reject (the CLI's commands).
   */
  readonly requireConnection?: boolean;
}

/** A storage several edges share: the contract, its connection state, and a conditional put. */
export interface SharedStorage extends Storage {
  /** true while the backend answers (for /readyz, metrics, and refusing fleet writes at once). */
  connected(): boolean;
  /**
   * Stores `value` with `tag` only while the key's current tag is `expected` (null: the key is not stored),
   * atomically; resolves false when it was not (someone else wrote first). Watchers hear of it as of a put.
   */
  putIfTag(key: string, expected: string | null, tag: string, value: string | Buffer): Promise<boolean>;
}

/** Observable state of the connection, for /readyz and metrics. */
export type RedisStorage = SharedStorage;

const REFRESH = `local v = redis.call('GET', KEYS[1])
if v and cjson.decode(v).token == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;
const RELEASE = `local v = redis.call('GET', KEYS[1])
if v and cjson.decode(v).token == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;
// KEYS: value, index, channel. ARGV: expected tag ('' = absent), new tag, data, modified, size, key.
const PUT_IF_TAG = `local cur = redis.call('HGET', KEYS[1], 't')
if cur == false then cur = '' end
if redis.call('EXISTS', KEYS[1]) == 0 then cur = '' elseif cur == '' then cur = '(untagged)' end
if cur ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'd', ARGV[3], 'm', ARGV[4], 'n', ARGV[5], 'x', '0', 't', ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[6])
redis.call('PUBLISH', KEYS[3], ARGV[6])
return 1`;

/** `redis://user:secret@host:6379/0` -> `redis://host:6379/0` for logs. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return 'redis://(unparseable url)';
  }
}

function seal(key: Buffer, plain: Buffer): Buffer {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([c.update(plain), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), body]);
}

function open(key: Buffer, sealed: Buffer): Buffer {
  const d = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12));
  d.setAuthTag(sealed.subarray(12, 28));
  return Buffer.concat([d.update(sealed.subarray(28)), d.final()]);
}

/** Runs a MULTI; a command that failed inside it rejects (exec itself resolves with per-command errors). */
async function exec(m: ReturnType<Redis['multi']>): Promise<void> {
  const results = await m.exec();
  if (results === null) throw new Error('the transaction was aborted');
  const failed = results.find(([err]) => err);
  if (failed) throw failed[0];
}

/** Connects (rejecting with StorageError EDGE_ERR_STORAGE when Redis cannot be reached in time) and returns the storage. */
export async function createRedisStorage(opts: RedisStorageOptions): Promise<RedisStorage> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const where = `${redactRedisUrl(opts.url)} (prefix ${opts.keyPrefix})`;
  const describe = () => `redis:${where}`;
  // The user and password go as options, not in the URL: ioredis lets a URL's (empty) password win over
  // the option's, which would drop storage.passwordFile for `redis://user@host`.
  const url = new URL(opts.url);
  const username = decodeURIComponent(url.username);
  const password = opts.password ?? (url.password === '' ? undefined : decodeURIComponent(url.password));
  url.username = '';
  url.password = '';
  const clientOpts: RedisOptions = {
    ...(username !== '' ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(opts.caPem ? { tls: { ca: [opts.caPem] } } : {}),
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: timeoutMs,
    connectTimeout: timeoutMs,
    // Reconnect forever, backing off to 5 s: an edge outlives a Redis restart.
    retryStrategy: (times) => Math.min(200 * times, 5000),
  };
  const client = new Redis(url.toString(), clientOpts);
  const sub = new Redis(url.toString(), { ...clientOpts, enableOfflineQueue: true });
  let everReady = false;
  let down = false;
  const watchers = new Map<Namespace, Set<{ matches(key: string): boolean; onChange: () => void }>>();
  const notifyAll = () => { for (const set of watchers.values()) for (const w of set) w.onChange(); };
  for (const c of [client, sub]) {
    c.on('error', (err: Error) => {
      if (!down && everReady) opts.log.warn({ storage: where, err: err.message }, 'redis unreachable: serving what this edge has, retrying');
      down = everReady;
    });
  }
  client.on('ready', () => {
    if (down) opts.log.info({ storage: where }, 'redis reachable again');
    down = false;
    everReady = true;
  });
  // Changes made while the subscriber was away (or before it first got through) were never published to
  // it: every watcher re-reads.
  sub.on('ready', notifyAll);
  sub.on('messageBuffer', (channel: Buffer, message: Buffer) => {
    const ns = channel.toString().slice(`${opts.keyPrefix}chg:`.length) as Namespace;
    const key = message.toString();
    for (const w of watchers.get(ns) ?? []) if (w.matches(key)) w.onChange();
  });
  client.defineCommand('leaseRefresh', { numberOfKeys: 1, lua: REFRESH });
  client.defineCommand('leaseRelease', { numberOfKeys: 1, lua: RELEASE });
  client.defineCommand('putIfTag', { numberOfKeys: 3, lua: PUT_IF_TAG });
  type LuaCommands = { leaseRefresh(k: string, token: string, ttl: number): Promise<number>; leaseRelease(k: string, token: string): Promise<number>;
    putIfTag(v: string, idx: string, chg: string, expected: string, tag: string, d: Buffer, m: number, n: number, key: string): Promise<number> };
  const lua = client as unknown as LuaCommands;
  try {
    await Promise.all([client.connect(), sub.connect()]);
  } catch (err) {
    if (opts.requireConnection !== false) {
      client.disconnect();
      sub.disconnect();
      throw new StorageError(ErrorCodes.STORAGE, '', `cannot reach ${where}: ${(err as Error).message}`, { cause: err });
    }
    // Both clients keep reconnecting with backoff; 'ready' logs the recovery and tells the watchers.
    opts.log.warn({ storage: where, err: (err as Error).message }, 'redis unreachable at start: serving this edge\'s local copy, retrying');
    down = true;
    everReady = true;
  }

  const k = {
    value: (key: string) => `${opts.keyPrefix}v:${key}`,
    index: (ns: string) => `${opts.keyPrefix}idx:${ns}`,
    lease: (name: string) => `${opts.keyPrefix}lease:${name}`,
    channel: (ns: string) => `${opts.keyPrefix}chg:${ns}`,
  };
  let closed = false;

  const io = storageOps(describe, () => closed);

  /** Adds one value's write, its index entry and its change notice to a MULTI. */
  const queuePut = (m: ReturnType<Redis['multi']>, key: string, value: string | Buffer, putOpts?: PutOptions) => {
    const [ns] = checkKey(key);
    const plain = Buffer.isBuffer(value) ? value : Buffer.from(value);
    const encrypt = putOpts?.secret === true && opts.encryptionKey !== undefined;
    // 't' is putIfTag's tag: a plain put clears it.
    return m.hset(k.value(key), 'd', encrypt ? seal(opts.encryptionKey!, plain) : plain, 'm', Date.now(), 'n', plain.length, 'x', encrypt ? '1' : '0', 't', '')
      .zadd(k.index(ns!), 0, key)
      .publish(k.channel(ns!), key);
  };

  const backend: LeaseBackend = {
    async tryAcquire(name, record) {
      const ok = await client.set(k.lease(name), JSON.stringify(record), 'PX', record.ttlMs, 'NX');
      if (ok === 'OK') return { acquired: true };
      const held = await client.get(k.lease(name));
      try {
        const r = held ? JSON.parse(held) as LeaseHolder : null;
        return { acquired: false, holder: r ? { pid: r.pid, host: r.host, since: r.since } : null };
      } catch {
        return { acquired: false, holder: null };
      }
    },
    refresh: async (name, record: LeaseRecord) => (await lua.leaseRefresh(k.lease(name), record.token, record.ttlMs)) === 1,
    release: async (name, record) => { await lua.leaseRelease(k.lease(name), record.token); },
  };
  const leases = createLeaseManager(backend, { log: opts.log, pollMs: opts.lockPollMs, started: Math.round(performance.timeOrigin),
    ...(opts.leaseTtlMs ? { ttlMs: opts.leaseTtlMs } : {}) });

  const storage: RedisStorage = {
    get: (key) => io(key, 'read', async () => {
      checkKey(key);
      const [d, x] = await client.hmgetBuffer(k.value(key), 'd', 'x');
      if (!d) return null;
      if (x?.toString() !== '1') return d;
      if (!opts.encryptionKey) throw new Error('the value is encrypted and storage.encryptionKeyFile is not set');
      return open(opts.encryptionKey, d);
    }),
    put: (key, value, putOpts) => io(key, 'write', () => exec(queuePut(client.multi(), key, value, putOpts))),
    // One MULTI: the whole set lands at once, or nothing of it does.
    putAll: (entries) => io(entries[0]?.key ?? '(nothing)', 'write', async () => {
      if (entries.length === 0) return;
      let m = client.multi();
      for (const e of entries) m = queuePut(m, e.key, e.value, e.opts);
      await exec(m);
    }),
    putIfTag: (key, expected, tag, value) => io(key, 'write', async () => {
      const [ns] = checkKey(key);
      const plain = Buffer.isBuffer(value) ? value : Buffer.from(value);
      return (await lua.putIfTag(k.value(key), k.index(ns!), k.channel(ns!), expected ?? '', tag, plain, Date.now(), plain.length, key)) === 1;
    }),
    delete: (key) => io(key, 'delete', async () => {
      const [ns] = checkKey(key);
      await exec(client.multi().del(k.value(key)).zrem(k.index(ns!), key).publish(k.channel(ns!), key));
    }),
    list: (prefix) => io(prefix, 'list', async () => {
      const [ns, ...rest] = checkKey(prefix, 'prefix');
      const base = rest.length ? `${[ns, ...rest].join('/')}/` : `${ns}/`;
      // Keys use no byte above 0x7e, so `\xff` closes the range of everything starting with `base`.
      return client.zrangebylex(k.index(ns!), `[${base}`, `[${base}\xff`);
    }),
    stat: (key) => io(key, 'stat', async () => {
      checkKey(key);
      const [m, n] = await client.hmget(k.value(key), 'm', 'n');
      return m === null ? null : { size: Number(n), modified: new Date(Number(m)) };
    }),
    lock: (name, lockOpts) => leases.lock(name, lockOpts),
    watch(prefix, onChange): Watcher {
      if (closed) throw new StorageError(ErrorCodes.STORAGE, prefix, `cannot watch ${prefix}: the storage (${describe()}) is closed`);
      const [ns] = checkKey(prefix, 'prefix') as [Namespace, ...string[]];
      let set = watchers.get(ns);
      if (!set) {
        watchers.set(ns, set = new Set());
        void sub.subscribe(k.channel(ns)).catch((err: Error) => opts.log.warn({ storage: where, err: err.message }, 'redis subscribe failed: retried on reconnect'));
      }
      const p = prefix.replace(/\/$/, '');
      const w = { matches: (key: string) => key === p || key.startsWith(`${p}/`), onChange };
      set.add(w);
      return { close: () => { set.delete(w); } };
    },
    describe,
    connected: () => client.status === 'ready',
    async close() {
      if (closed) return;
      await leases.close();
      closed = true;
      watchers.clear();
      // QUIT on a reachable server; a client that is reconnecting is just stopped (QUIT would wait for Redis).
      await Promise.allSettled([client, sub].map((c) => (c.status === 'ready'
        ? Promise.race([c.quit(), new Promise((r) => setTimeout(r, timeoutMs).unref())]).finally(() => c.disconnect())
        : Promise.resolve(c.disconnect()))));
    },
  };
  return storage;
}
