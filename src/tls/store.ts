/**
 * The certificate store, on a Storage: `certs/<folder>/{key.pem,cert.pem,meta.json}`, a wildcard `*.a.b`
 * kept in folder `_wildcard_.a.b`. The three are replaced as a set (Storage.putAll: all or none, so a full
 * disk or an unwritable file keeps the previous certificate whole), key first and meta.json last: a reader
 * that finds a meta whose fingerprint does not match the certificate, or a key that does not match, is
 * looking at a write in progress or one a crash interrupted, and never serves it.
 * Per-name leases (`certs/<folder>`) keep two renewers from issuing one name at once; storage.watch tells
 * other processes (the running edge, while `idcs-edge --renew-ssl` renews) that something changed.
 * Renewal failures live beside it (failures.ts). Certificate material is never logged.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { Clock } from '../clock.ts';
import { isValidHostname } from '../routing/host.ts';
import { CertError, ErrorCodes, LockTimeoutError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Storage, Watcher } from '../storage/contract.ts';
import { infoOf } from './certinfo.ts';
import { createFailureState, failureFromMeta, type RenewalFailure } from './failures.ts';
import type { CertMeta, StoredCert } from './issuer.ts';

/** What a caller says about a certificate it stores; the facts the certificate itself states are derived. */
export type CertMetaInput = Pick<CertMeta, 'source'>;

export interface CertStore {
  /** The stored certificate, or null when there is none (or only an interrupted write). */
  read(name: string): Promise<StoredCert | null>;
  /** Stores key, certificate and meta as a set (all or none) and clears the name's failure state. Returns the meta written. */
  write(name: string, cert: { certPem: string; keyPem: string; meta: CertMetaInput }): Promise<CertMeta>;
  /** Meta of every stored certificate, by folder order. */
  list(): Promise<CertMeta[]>;
  /**
   * Runs `fn` holding the lease for `name`; throws CertError EDGE_ERR_CERT_LOCKED after `waitMs`. `fn` gets
   * the lease's `lost` signal (pass it to the issuer). Re-read the store inside: another process may have
   * finished the same work while we waited. `signal` stops the wait (rejecting with its reason).
   */
  withLock<T>(name: string, fn: (lost: AbortSignal) => Promise<T>, opts?: { waitMs?: number; signal?: AbortSignal }): Promise<T>;
  /** The name's last renewal failure and backoff, whether or not a certificate is stored; null when none. */
  failure(name: string): Promise<RenewalFailure | null>;
  recordFailure(failure: RenewalFailure): Promise<void>;
  /** Every recorded failure (names with and without a stored certificate). */
  failures(): Promise<RenewalFailure[]>;
  /** Calls `onChange` after certificates change, in this process or another one sharing the storage. */
  watch(onChange: () => void): Watcher;
  /** Where certificates are kept, for messages. */
  describe(): string;
}

export interface CertStoreOptions {
  readonly storage: Storage;
  readonly log: Logger;
  readonly clock: Clock;
  /** How long withLock waits for another holder (default 120 s). */
  readonly lockWaitMs?: number;
}

/** The folder a certificate name is kept in: `*.a.b` -> `_wildcard_.a.b`. Throws for names that are not DNS names. */
export function storeFolderName(name: string): string {
  const n = name.toLowerCase();
  const rest = n.startsWith('*.') ? n.slice(2) : n;
  // Also what keeps `../x` and `a/b` out of the key.
  if (!isValidHostname(rest)) throw new CertError(ErrorCodes.CERT_STORE, name, `not a certificate name: ${JSON.stringify(name)}`);
  return n.startsWith('*.') ? `_wildcard_.${rest}` : n;
}

function nameOfFolder(folder: string): string {
  return folder.startsWith('_wildcard_.') ? `*.${folder.slice('_wildcard_.'.length)}` : folder;
}

const text = (b: Buffer | null) => (b === null ? null : b.toString('utf8'));

/** Opens the store over `storage`; nothing is read until asked. */
export function createCertStore(opts: CertStoreOptions): CertStore {
  const { storage, log, clock } = opts;
  const where = storage.describe();
  const keyOf = (name: string, file: string) => `certs/${storeFolderName(name)}/${file}`;
  const failures = createFailureState(storage, storeFolderName, nameOfFolder);
  const storeError = (name: string, what: string, err: unknown) =>
    new CertError(ErrorCodes.CERT_STORE, name, `cannot ${what} certificate ${name} in ${where}: ${(err as Error).message}`, { cause: err });

  const readOnce = async (name: string): Promise<StoredCert | null | 'torn'> => {
    const [metaText, certPem, keyPem] = (await Promise.all(
      [storage.get(keyOf(name, 'meta.json')), storage.get(keyOf(name, 'cert.pem')), storage.get(keyOf(name, 'key.pem'))])).map(text);
    if (metaText === null && certPem === null && keyPem === null) return null;
    if (!metaText || !certPem || !keyPem) return 'torn';
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
    try {
      // A torn read is usually a write in progress in another process (it takes milliseconds): look again.
      for (let attempt = 0; attempt < 5; attempt++) {
        const r = await readOnce(name);
        if (r !== 'torn') return r;
        await new Promise((res) => setTimeout(res, 20 * (attempt + 1)));
      }
    } catch (err) {
      throw storeError(name, 'read', err);
    }
    log.warn({ name, store: where }, 'stored certificate is incomplete (interrupted write?): treating it as missing');
    return null;
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
    });
    try {
      // As a set: a full disk or a file that cannot be replaced leaves the previous certificate whole.
      await storage.putAll([
        { key: keyOf(name, 'key.pem'), value: cert.keyPem, opts: { secret: true } },
        { key: keyOf(name, 'cert.pem'), value: cert.certPem },
        { key: keyOf(name, 'meta.json'), value: `${JSON.stringify(meta, null, 2)}\n` },
      ]);
      // A stored certificate ends any backoff: the next failure counts from one again.
      await failures.clear(name);
    } catch (err) {
      throw storeError(name, 'store', err);
    }
    // The caller says why at info ('self-signed certificate created', 'certificate stored' with its reason).
    log.debug({ name, source: meta.source, notAfter: meta.notAfter, fingerprint256: meta.fingerprint256 }, 'certificate written to the store');
    return meta;
  };

  const readMeta = async (name: string): Promise<CertMeta | null> => {
    const raw = text(await storage.get(keyOf(name, 'meta.json')));
    if (raw === null) return null;
    try {
      return Object.freeze({ ...(JSON.parse(raw) as CertMeta), name });
    } catch {
      log.warn({ name, store: where }, 'unreadable meta.json in the certificate store: skipped');
      return null;
    }
  };

  const list = async (): Promise<CertMeta[]> => {
    let keys: string[];
    try {
      keys = await storage.list('certs');
    } catch (err) {
      throw storeError('*', 'list', err);
    }
    const metas: CertMeta[] = [];
    for (const key of keys) {
      const [, folder, file, ...deeper] = key.split('/');
      if (file !== 'meta.json' || deeper.length > 0) continue;
      const meta = await readMeta(nameOfFolder(folder!)).catch(() => null);
      if (meta) metas.push(meta);
    }
    return metas;
  };

  const withLock: CertStore['withLock'] = async (name, fn, lockOpts) => {
    const waitMs = lockOpts?.waitMs ?? opts.lockWaitMs ?? 120_000;
    let lease;
    try {
      lease = await storage.lock(`certs/${storeFolderName(name)}`, { waitMs, ...(lockOpts?.signal ? { signal: lockOpts.signal } : {}) });
    } catch (err) {
      if (lockOpts?.signal?.aborted) throw lockOpts.signal.reason;
      if (err instanceof LockTimeoutError) {
        throw new CertError(ErrorCodes.CERT_LOCKED, name,
          `certificate ${name} is locked by ${err.holderText} (still busy after ${Math.round(waitMs / 1000)}s)`, { cause: err });
      }
      throw err instanceof CertError ? err : storeError(name, 'lock', err);
    }
    try {
      return await fn(lease.lost);
    } finally {
      // A failed release must not hide fn's result; the lease then lapses after its TTL.
      await lease.release().catch((err: Error) => log.warn({ name, err: err.message }, 'certificate lock release failed'));
    }
  };

  const failure = async (name: string): Promise<RenewalFailure | null> => {
    try {
      const recorded = await failures.read(name);
      if (recorded) return recorded;
      const meta = await readMeta(name);
      return meta ? failureFromMeta(meta) : null;
    } catch (err) {
      throw storeError(name, 'read the renewal state of', err);
    }
  };

  return Object.freeze({
    read, write, list, withLock, failure,
    recordFailure: (f: RenewalFailure) => failures.record(f).catch((err: unknown) => { throw storeError(f.name, 'record a failure for', err); }),
    failures: () => failures.list().catch((err: unknown) => { throw storeError('*', 'list failures of', err); }),
    watch: (onChange: () => void) => storage.watch('certs', onChange),
    describe: () => where,
  });
}
