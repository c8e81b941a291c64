/**
 * The ACME account: one ECDSA P-256 key per CA directory, created once and kept 0600 in
 * `<certs.dir>/acme/account-<hash>.key`, with the account URL the CA assigned in `account-<hash>.json`.
 * Re-registering on every run would create a new account each time (and trip Let's Encrypt's
 * new-registrations limit), so the URL is stored and `createAccount` runs only when there is none.
 */
import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import acme from 'acme-client';
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';

export interface AccountPaths {
  readonly dir: string;
  readonly keyPath: string;
  readonly infoPath: string;
}

/** What we keep about an account next to its key (nothing secret). */
export interface AccountInfo {
  readonly directoryUrl: string;
  readonly accountUrl: string;
  readonly contact: readonly string[];
  readonly createdAt: string;
}

/** Files of the account for `directoryUrl`; a different CA (or staging vs production) gets its own. */
export function accountPaths(certsDir: string, directoryUrl: string): AccountPaths {
  const hash = createHash('sha256').update(directoryUrl).digest('hex').slice(0, 16);
  const dir = join(certsDir, 'acme');
  return { dir, keyPath: join(dir, `account-${hash}.key`), infoPath: join(dir, `account-${hash}.json`) };
}

/** Writes `data` to a temp file in the same folder, fsyncs it and returns its path. */
async function writeTemp(path: string, data: string | Buffer, mode: number): Promise<string> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return tmp;
}

/**
 * The account key, created when missing. Creation is exclusive (link(2) of a fully written temp file fails
 * if the key exists), so two processes starting at once end up with the same key, never a torn one.
 */
export async function loadOrCreateAccountKey(paths: AccountPaths, log: Logger): Promise<Buffer> {
  try {
    return await readFile(paths.keyPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  const key = await acme.crypto.createPrivateEcdsaKey('P-256');
  const tmp = await writeTemp(paths.keyPath, key, 0o600);
  try {
    await link(tmp, paths.keyPath);
    log.info({ keyPath: paths.keyPath }, 'acme account key created');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await unlink(tmp);
  }
  return readFile(paths.keyPath);
}

/** The stored account info, or null when the account was never registered with this CA. */
export async function readAccountInfo(paths: AccountPaths): Promise<AccountInfo | null> {
  try {
    const info = JSON.parse(await readFile(paths.infoPath, 'utf8')) as AccountInfo;
    return typeof info.accountUrl === 'string' && info.accountUrl ? info : null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

async function writeAccountInfo(paths: AccountPaths, info: AccountInfo): Promise<void> {
  const tmp = await writeTemp(paths.infoPath, `${JSON.stringify(info, null, 2)}\n`, 0o600);
  await rename(tmp, paths.infoPath);
}

export interface EnsureAccountOptions {
  readonly paths: AccountPaths;
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
  const stored = await readAccountInfo(opts.paths);
  if (stored) {
    if (stored.contact.join(',') !== contact.join(',')) {
      await client.updateAccount({ contact });
      await writeAccountInfo(opts.paths, { ...stored, contact });
      opts.log.info({ accountUrl: stored.accountUrl }, 'acme account contact updated');
    }
    return stored.accountUrl;
  }
  await client.createAccount({ termsOfServiceAgreed: true, contact });
  const accountUrl = client.getAccountUrl();
  await writeAccountInfo(opts.paths, { directoryUrl: opts.directoryUrl, accountUrl, contact, createdAt: opts.clock.now().toISOString() });
  opts.log.info({ accountUrl, directoryUrl: opts.directoryUrl }, 'acme account registered');
  return accountUrl;
}
