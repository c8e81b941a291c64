/**
 * The ACME account: one ECDSA P-256 key per CA directory, created once and kept as a secret at
 * `acme/account-<hash>.key` in storage (the file storage keeps it 0600 in `<certs.dir>/acme/`), with the
 * account URL the CA assigned at `acme/account-<hash>.json`. Re-registering on every run would create a new
 * account each time (and trip Let's Encrypt's new-registrations limit), so the URL is stored and
 * `createAccount` runs only when there is none.
 */
import { createHash } from 'node:crypto';
import acme from 'acme-client';
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { Storage } from '../storage/contract.ts';

/** The storage keys of one CA directory's account, and the lease that makes its creation exclusive. */
export interface AccountKeys {
  readonly key: string;
  readonly info: string;
  readonly lock: string;
}

/** What we keep about an account next to its key (nothing secret). */
export interface AccountInfo {
  readonly directoryUrl: string;
  readonly accountUrl: string;
  readonly contact: readonly string[];
  readonly createdAt: string;
}

/** Keys of the account for `directoryUrl`; a different CA (or staging vs production) gets its own. */
export function accountKeys(directoryUrl: string): AccountKeys {
  const hash = createHash('sha256').update(directoryUrl).digest('hex').slice(0, 16);
  return { key: `acme/account-${hash}.key`, info: `acme/account-${hash}.json`, lock: `acme/account-${hash}` };
}

/**
 * The account key, created when missing. Get-or-create runs inside the account's lease, so two processes
 * starting at once end up with the same key; a reader never sees a torn one (puts are atomic). `signal`
 * stops the wait for that lease.
 */
export async function loadOrCreateAccountKey(storage: Storage, keys: AccountKeys, log: Logger, signal?: AbortSignal): Promise<Buffer> {
  const existing = await storage.get(keys.key);
  if (existing) return existing;
  const lease = await storage.lock(keys.lock, signal ? { signal } : {});
  try {
    const again = await storage.get(keys.key); // another process may have made it while we waited
    if (again) return again;
    const key = await acme.crypto.createPrivateEcdsaKey('P-256');
    await storage.put(keys.key, key, { secret: true });
    log.info({ account: keys.key, store: storage.describe() }, 'acme account key created');
    return key;
  } finally {
    await lease.release();
  }
}

/** The stored account info, or null when the account was never registered with this CA. */
export async function readAccountInfo(storage: Storage, keys: AccountKeys): Promise<AccountInfo | null> {
  const raw = await storage.get(keys.info);
  if (raw === null) return null;
  const info = JSON.parse(raw.toString('utf8')) as AccountInfo;
  return typeof info.accountUrl === 'string' && info.accountUrl ? info : null;
}

async function writeAccountInfo(storage: Storage, keys: AccountKeys, info: AccountInfo): Promise<void> {
  await storage.put(keys.info, `${JSON.stringify(info, null, 2)}\n`);
}

export interface EnsureAccountOptions {
  readonly storage: Storage;
  readonly keys: AccountKeys;
  readonly directoryUrl: string;
  readonly email?: string | undefined;
  readonly clock: Clock;
  readonly log: Logger;
}

/**
 * Makes sure `client` has an account URL: the stored one, else a new registration (agreeing to the terms,
 * with EAB when the client was built with it). A changed email updates the account's contact.
 * Calling createAccount on a client that already has a URL fails on some CAs (Pebble), hence the check.
 */
export async function ensureAccount(client: acme.Client, opts: EnsureAccountOptions): Promise<string> {
  const contact = opts.email ? [`mailto:${opts.email}`] : [];
  const stored = await readAccountInfo(opts.storage, opts.keys);
  if (stored) {
    if (stored.contact.join(',') !== contact.join(',')) {
      await client.updateAccount({ contact });
      await writeAccountInfo(opts.storage, opts.keys, { ...stored, contact });
      opts.log.info({ accountUrl: stored.accountUrl }, 'acme account contact updated');
    }
    return stored.accountUrl;
  }
  await client.createAccount({ termsOfServiceAgreed: true, contact });
  const accountUrl = client.getAccountUrl();
  await writeAccountInfo(opts.storage, opts.keys, { directoryUrl: opts.directoryUrl, accountUrl, contact, createdAt: opts.clock.now().toISOString() });
  opts.log.info({ accountUrl, directoryUrl: opts.directoryUrl }, 'acme account registered');
  return accountUrl;
}
