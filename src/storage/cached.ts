/**
 * A shared storage (Redis) with a local copy on this host's disk of what the edge needs to serve: the
 * certificates and keys (`certs/…`), the fleet document, and the renewal failure state. Every value read from or written to the shared
 * storage under those keys is mirrored into a file storage on `certs.dir` (all 0600); when the shared
 * storage cannot be reached, reads of those keys are answered from the copy. So an edge started while
 * Redis is down serves the certificates and rules it had, instead of refusing to start or serving
 * stand-ins. Writes, leases and everything else go to the shared storage only (a write while it is down
 * fails: nothing is accepted that the fleet would not see). A key deleted in the shared storage is deleted
 * from the copy only when this edge deleted it; a copy of something removed elsewhere is only ever served
 * while Redis is down and the config still names it.
 */
import { createHash } from 'node:crypto';
import { StorageError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { PutOptions, Storage } from './contract.ts';
import type { SharedStorage } from './redis.ts';

const KEPT = ['certs', 'state/renewal'];

/**
 * The keys (and list prefixes) kept locally: certificates, the fleet document, and the renewal failure
 * state (so `/metrics` and `GET /api/v1/certs` still answer during an outage).
 */
export function isLocallyKept(key: string): boolean {
  const k = key.replace(/\/$/, '');
  return key === 'state/fleet/config' || KEPT.some((p) => k === p || k.startsWith(`${p}/`));
}

const digest = (v: Buffer) => createHash('sha256').update(v).digest('hex');

/** `shared` with reads of locally kept keys mirrored into `copy`, and answered from it while `shared` is unreachable. */
export function withLocalCopy(shared: SharedStorage, copy: Storage, log: Logger): SharedStorage {
  // What the copy holds, by key, as far as this process wrote it: a read that changes nothing writes nothing.
  const mirrored = new Map<string, string>();
  let fallbackLogged = false;
  // The copy holds private keys: every value is written as a secret (0600).
  const secret: PutOptions = { secret: true };

  const mirror = async (key: string, value: Buffer | string) => {
    if (!isLocallyKept(key)) return;
    const v = Buffer.isBuffer(value) ? value : Buffer.from(value);
    const h = digest(v);
    if (mirrored.get(key) === h) return;
    try {
      const have = mirrored.has(key) ? null : await copy.get(key);
      if (have === null || digest(have) !== h) await copy.put(key, v, secret);
      mirrored.set(key, h);
    } catch (err) {
      log.warn({ key, err: (err as Error).message }, 'cannot update the local copy of the storage');
    }
  };

  /** Runs `op` on the shared storage; for a locally kept key that it cannot reach, `local` on the copy. */
  const orLocal = async <T>(key: string, op: () => Promise<T>, local: () => Promise<T>): Promise<T> => {
    try {
      return await op();
    } catch (err) {
      if (!(err instanceof StorageError) || shared.connected() || !isLocallyKept(key)) throw err;
      if (!fallbackLogged) log.warn({ storage: shared.describe() }, 'storage unreachable: reading this edge\'s local copy');
      fallbackLogged = true;
      return local();
    }
  };

  return {
    async get(key) {
      const v = await orLocal(key, () => shared.get(key), () => copy.get(key));
      if (v !== null && shared.connected()) {
        fallbackLogged = false;
        await mirror(key, v);
      }
      return v;
    },
    async put(key, value, opts) {
      await shared.put(key, value, opts);
      await mirror(key, value);
    },
    async putAll(entries) {
      await shared.putAll(entries);
      for (const e of entries) await mirror(e.key, e.value);
    },
    async putIfTag(key, expected, tag, value) {
      const ok = await shared.putIfTag(key, expected, tag, value);
      if (ok) await mirror(key, value);
      return ok;
    },
    async delete(key) {
      await shared.delete(key);
      if (isLocallyKept(key)) {
        mirrored.delete(key);
        await copy.delete(key).catch((err: Error) => log.warn({ key, err: err.message }, 'cannot update the local copy of the storage'));
      }
    },
    list: (prefix) => orLocal(prefix, () => shared.list(prefix), () => copy.list(prefix)),
    stat: (key) => orLocal(key, () => shared.stat(key), () => copy.stat(key)),
    lock: (name, opts) => shared.lock(name, opts),
    watch: (prefix, onChange) => shared.watch(prefix, onChange),
    describe: () => shared.describe(),
    connected: () => shared.connected(),
    async close() {
      await shared.close();
      await copy.close();
    },
  };
}
