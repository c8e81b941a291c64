/**
 * The certificate store: `<dir>/<name>/{key.pem,cert.pem,meta.json}`, a wildcard `*.a.b` kept in folder
 * `_wildcard_.a.b`. Every file is replaced atomically; the key is written first and meta.json last, so
 * meta.json is the commit point: a reader that finds a meta whose fingerprint does not match the
 * certificate, or a key that does not match, is looking at an interrupted or in-progress write.
 * Every certificate write bumps `<dir>/.generation` so other processes (the running edge, while
 * `idcs-edge --renew-ssl` renews) notice cheaply. Per-name locks live in `<dir>/.locks/`.
 * Certificate material is never logged.
 */
import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { unwatchFile, watchFile, type Stats } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Clock } from '../clock.ts';
import { isValidHostname } from '../config/schema.ts';
import { CertError, ErrorCodes } from '../errors.ts';
import type { Logger } from '../log.ts';
import { ensurePrivateDir, writeFileAtomic } from './atomic.ts';
import { infoOf } from './certinfo.ts';
import type { CertMeta, StoredCert } from './issuer.ts';
import { acquireFileLock, LockTimeout } from './lock.ts';

/** What a caller says about a certificate it stores; the facts the certificate itself states are derived. */
export type CertMetaInput = Pick<CertMeta, 'source'> & Partial<Pick<CertMeta, 'lastError' | 'nextAttemptAt' | 'failures'>>;

export interface CertStore {
  readonly dir: string;
  /** The stored certificate, or null when there is none (or only an interrupted write). */
  read(name: string): Promise<StoredCert | null>;
  /** Stores key, certificate and meta atomically (in that order) and bumps the generation. Returns the meta written. */
  write(name: string, cert: { certPem: string; keyPem: string; meta: CertMetaInput }): Promise<CertMeta>;
  /** Merges `patch` into meta.json atomically; null when no certificate is stored under the name. */
  updateMeta(name: string, patch: Partial<Omit<CertMeta, 'name' | 'fingerprint256'>>): Promise<CertMeta | null>;
  /** Meta of every stored certificate, by name. */
  list(): Promise<CertMeta[]>;
  /**
   * Runs `fn` holding the cross-process lock for `name`; throws CertError EDGE_ERR_CERT_LOCKED after `waitMs`.
   * Re-read the store inside: another process may have finished the same work while we waited.
   */
  withLock<T>(name: string, fn: () => Promise<T>, opts?: { waitMs?: number }): Promise<T>;
  /** The current generation (0 before the first write). */
  generation(): Promise<string>;
}

export interface CertStoreOptions {
  readonly dir: string;
  readonly log: Logger;
  readonly clock: Clock;
  /** A lock untouched this long is abandoned (default 10 minutes). */
  readonly staleLockMs?: number;
  readonly lockPollMs?: number;
  readonly lockWaitMs?: number;
}

const GENERATION = '.generation';

/** The folder a certificate name is kept in: `*.a.b` -> `_wildcard_.a.b`. Throws for names that are not DNS names. */
export function storeFolderName(name: string): string {
  const n = name.toLowerCase();
  const rest = n.startsWith('*.') ? n.slice(2) : n;
  // Also what keeps `../x` and `a/b` out of the path.
  if (!isValidHostname(rest)) throw new CertError(ErrorCodes.CERT_STORE, name, `not a certificate name: ${JSON.stringify(name)}`);
  return n.startsWith('*.') ? `_wildcard_.${rest}` : n;
}

function nameOfFolder(folder: string): string {
  return folder.startsWith('_wildcard_.') ? `*.${folder.slice('_wildcard_.'.length)}` : folder;
}

async function readOrNull(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Opens the store (the directory is created 0700 on first write). */
export function createCertStore(opts: CertStoreOptions): CertStore {
  const dir = resolve(opts.dir);
  const { log, clock } = opts;
  const folderOf = (name: string) => join(dir, storeFolderName(name));
  const storeError = (name: string, what: string, err: unknown) =>
    new CertError(ErrorCodes.CERT_STORE, name, `cannot ${what} certificate ${name} in ${dir}: ${(err as Error).message}`, { cause: err });

  const readOnce = async (name: string, folder: string): Promise<StoredCert | null | 'torn'> => {
    const [metaText, certPem, keyPem] = await Promise.all(
      [readOrNull(join(folder, 'meta.json')), readOrNull(join(folder, 'cert.pem')), readOrNull(join(folder, 'key.pem'))]);
    if (metaText === null && certPem === null && keyPem === null) return null;
    if (metaText === null || certPem === null || keyPem === null) return 'torn';
    try {
      const meta = JSON.parse(metaText) as CertMeta;
      const x = new X509Certificate(certPem);
      if (x.fingerprint256 !== meta.fingerprint256 || !x.checkPrivateKey(createPrivateKey(keyPem))) return 'torn';
      return Object.freeze({ certPem, keyPem, meta: Object.freeze({ ...meta, name }) });
    } catch {
      return 'torn';
    }
  };

  const read = async (name: string): Promise<StoredCert | null> => {
    const folder = folderOf(name);
    try {
      // A torn read is usually a write in progress in another process (it takes milliseconds): look again.
      for (let attempt = 0; attempt < 5; attempt++) {
        const r = await readOnce(name, folder);
        if (r !== 'torn') return r;
        await new Promise((res) => setTimeout(res, 20 * (attempt + 1)));
      }
    } catch (err) {
      throw storeError(name, 'read', err);
    }
    log.warn({ name, dir }, 'stored certificate is incomplete (interrupted write?): treating it as missing');
    return null;
  };

  const bumpGeneration = async () => {
    // The token differs on every write, so two processes bumping at once still change the file.
    await writeFileAtomic(join(dir, GENERATION), `${clock.now().toISOString()} ${process.pid} ${randomBytes(6).toString('hex')}\n`, 0o644);
  };

  const write: CertStore['write'] = async (name, cert) => {
    let x: X509Certificate;
    try {
      x = new X509Certificate(cert.certPem);
      if (!x.checkPrivateKey(createPrivateKey(cert.keyPem))) throw new Error('the key does not match the certificate');
    } catch (err) {
      throw storeError(name, 'store', err);
    }
    const info = infoOf(x);
    const meta: CertMeta = Object.freeze({
      name, source: cert.meta.source, names: info.names, notBefore: info.notBefore, notAfter: info.notAfter,
      issuer: info.issuer, fingerprint256: info.fingerprint256, storedAt: clock.now().toISOString(),
      ...(cert.meta.lastError ? { lastError: cert.meta.lastError } : {}),
      ...(cert.meta.nextAttemptAt ? { nextAttemptAt: cert.meta.nextAttemptAt } : {}),
      ...(cert.meta.failures ? { failures: cert.meta.failures } : {}),
    });
    const folder = folderOf(name);
    try {
      await ensurePrivateDir(dir);
      await ensurePrivateDir(folder);
      await writeFileAtomic(join(folder, 'key.pem'), cert.keyPem, 0o600);
      await writeFileAtomic(join(folder, 'cert.pem'), cert.certPem, 0o644);
      await writeFileAtomic(join(folder, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`, 0o644);
      await bumpGeneration();
    } catch (err) {
      throw storeError(name, 'store', err);
    }
    log.info({ name, source: meta.source, notAfter: meta.notAfter, fingerprint256: meta.fingerprint256 }, 'certificate stored');
    return meta;
  };

  const updateMeta: CertStore['updateMeta'] = async (name, patch) => {
    const file = join(folderOf(name), 'meta.json');
    try {
      const text = await readOrNull(file);
      if (text === null) return null;
      const meta: CertMeta = Object.freeze({ ...(JSON.parse(text) as CertMeta), ...patch, name });
      await writeFileAtomic(file, `${JSON.stringify(meta, null, 2)}\n`, 0o644);
      return meta;
    } catch (err) {
      throw storeError(name, 'update', err);
    }
  };

  const list = async (): Promise<CertMeta[]> => {
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw storeError('*', 'list', err);
    }
    const metas: CertMeta[] = [];
    for (const folder of entries.filter((e) => !e.startsWith('.')).sort()) {
      const text = await readOrNull(join(dir, folder, 'meta.json')).catch(() => null);
      if (text === null) continue;
      try {
        metas.push(Object.freeze({ ...(JSON.parse(text) as CertMeta), name: nameOfFolder(folder) }));
      } catch {
        log.warn({ folder, dir }, 'unreadable meta.json in the certificate store: skipped');
      }
    }
    return metas;
  };

  const withLock: CertStore['withLock'] = async (name, fn, lockOpts) => {
    const locks = join(dir, '.locks');
    await ensurePrivateDir(dir);
    await ensurePrivateDir(locks);
    const waitMs = lockOpts?.waitMs ?? opts.lockWaitMs ?? 120_000;
    let release: () => Promise<void>;
    try {
      release = await acquireFileLock(join(locks, `${storeFolderName(name)}.lock`),
        { waitMs, staleMs: opts.staleLockMs ?? 10 * 60_000, pollMs: opts.lockPollMs ?? 200 });
    } catch (err) {
      if (err instanceof LockTimeout) {
        throw new CertError(ErrorCodes.CERT_LOCKED, name,
          `certificate ${name} is locked by ${err.holder} (still busy after ${Math.round(waitMs / 1000)}s)`, { cause: err });
      }
      throw storeError(name, 'lock', err);
    }
    try {
      return await fn();
    } finally {
      await release();
    }
  };

  const generation = async () => (await readOrNull(join(dir, GENERATION)).catch(() => null))?.trim() || '0';

  return Object.freeze({ dir, read, write, updateMeta, list, withLock, generation });
}

/**
 * Calls `onChange` when another writer bumps the store's generation. Polls (stat every `intervalMs`,
 * default 500 ms) rather than using inotify, which misses renames on some volumes and network file systems.
 */
export function watchGeneration(dir: string, onChange: () => void, opts: { intervalMs?: number } = {}): { close(): void } {
  const file = join(resolve(dir), GENERATION);
  const listener = (curr: Stats, prev: Stats) => {
    // Each bump is a rename, so the inode changes even when two bumps land in the same mtime tick.
    if (curr.ino !== prev.ino || curr.mtimeMs !== prev.mtimeMs || curr.size !== prev.size) onChange();
  };
  watchFile(file, { interval: opts.intervalMs ?? 500, persistent: false }, listener);
  return { close: () => unwatchFile(file, listener) };
}
