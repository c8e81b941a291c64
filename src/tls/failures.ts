/**
 * Renewal failure state per certificate name: the last error, how many attempts in a row failed, and when
 * the next automatic attempt may run. Kept in storage at `state/renewal/<folder>.json` for every name,
 * including names that never had a certificate (a first issuance the CA refused), so that a restart, a
 * `--renew-ssl` run and `idcs-edge certs` all see the same backoff. The previous version kept these fields
 * in meta.json, and only for stored certificates; the store reads them from there when no state exists.
 */
import type { CertSource } from '../config/schema.ts';
import type { Storage } from '../storage/contract.ts';
import type { CertMeta } from './issuer.ts';

export interface RenewalFailure {
  /** The certificate name (`*.user1.example.com` for a wildcard). */
  readonly name: string;
  readonly source: CertSource;
  /** Consecutive failed attempts. */
  readonly failures: number;
  readonly lastError: NonNullable<CertMeta['lastError']>;
  /** No automatic attempt before this time. */
  readonly nextAttemptAt: string;
}

export interface FailureState {
  read(name: string): Promise<RenewalFailure | null>;
  record(failure: RenewalFailure): Promise<void>;
  clear(name: string): Promise<void>;
  /** Every recorded failure, by folder order. */
  list(): Promise<RenewalFailure[]>;
}

const PREFIX = 'state/renewal/';

/** A failure recorded by the previous version in meta.json, or null. */
export function failureFromMeta(meta: CertMeta): RenewalFailure | null {
  if (!meta.lastError || !meta.nextAttemptAt) return null;
  return Object.freeze({ name: meta.name, source: meta.source, failures: meta.failures ?? 1, lastError: meta.lastError,
    nextAttemptAt: meta.nextAttemptAt });
}

function parse(name: string, text: string): RenewalFailure | null {
  try {
    const f = JSON.parse(text) as RenewalFailure;
    if (typeof f.failures !== 'number' || typeof f.nextAttemptAt !== 'string' || typeof f.lastError?.code !== 'string') return null;
    return Object.freeze({ ...f, name });
  } catch {
    return null;
  }
}

/** `folderOf`/`nameOf` map names to store folders and back (store.ts owns that mapping). */
export function createFailureState(storage: Storage, folderOf: (name: string) => string, nameOf: (folder: string) => string): FailureState {
  const keyOf = (name: string) => `${PREFIX}${folderOf(name)}.json`;
  // An unreadable state file is treated as no failure: the worst case is one attempt sooner than planned.
  const readKey = async (key: string, name: string) => {
    const raw = await storage.get(key);
    return raw === null ? null : parse(name, raw.toString('utf8'));
  };
  return {
    read: (name) => readKey(keyOf(name), name),
    async record(f) {
      await storage.put(keyOf(f.name), `${JSON.stringify(f, null, 2)}\n`);
    },
    clear: (name) => storage.delete(keyOf(name)),
    async list() {
      const out: RenewalFailure[] = [];
      for (const key of await storage.list(PREFIX)) {
        const folder = key.slice(PREFIX.length).replace(/\.json$/, '');
        if (folder.includes('/') || !key.endsWith('.json')) continue;
        const f = await readKey(key, nameOf(folder));
        if (f) out.push(f);
      }
      return out;
    },
  };
}
