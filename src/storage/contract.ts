/**
 * The storage contract: everything the edge keeps (certificates and keys, their metadata, the ACME account,
 * HTTP-01 tokens, renewal failure state) goes through one Storage, in the spirit of certmagic's `Storage` +
 * `Locker`. Keyed values, leases that exclude other clients and other processes, and change notification
 * are all part of the contract, so a second implementation (Redis) is a drop-in that passes the same test
 * suite (test/storage/contract.ts). No I/O here: the interface, the key rules and the defaults.
 */
import { ErrorCodes, StorageError } from '../errors.ts';

/**
 * The top-level namespaces. A closed list, so that an implementation can place each one where it belongs
 * (the file implementation keeps challenges outside the certificates folder, where private keys live).
 */
export const NAMESPACES = Object.freeze(['certs', 'acme', 'challenges', 'state'] as const);
export type Namespace = (typeof NAMESPACES)[number];

export interface PutOptions {
  /** A private key: the file implementation writes it 0600; another backend may encrypt it. */
  readonly secret?: boolean;
}

export interface LockOptions {
  /** The lease lapses this long after its last refresh unless refreshed (default 30 s). */
  readonly ttlMs?: number;
  /** Give up with LockTimeoutError after this long (default 120 s; 0: try once). */
  readonly waitMs?: number;
  /** Stops waiting: lock() rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Refresh every ttlMs/3 while held (default true). false: the holder calls refresh() itself. */
  readonly autoRefresh?: boolean;
}

/** A held lock. Only the client holding the lease (by its owner token) can refresh or release it. */
export interface Lease {
  readonly name: string;
  /** The owner token: unique per acquisition. */
  readonly token: string;
  /** Aborts (reason: StorageError EDGE_ERR_STORAGE_LEASE_LOST) when a refresh finds the lease gone or taken. */
  readonly lost: AbortSignal;
  /** Extends the lease by its TTL; rejects with EDGE_ERR_STORAGE_LEASE_LOST when it is no longer ours. */
  refresh(): Promise<void>;
  /** Gives the lease up; removes it only while it is still ours. Idempotent. */
  release(): Promise<void>;
}

export interface Watcher {
  close(): void;
}

export interface StorageStat {
  readonly size: number;
  readonly modified: Date;
}

/**
 * What every storage implementation provides. Keys are checked by `checkKey`; a bad one rejects with
 * StorageError EDGE_ERR_STORAGE_KEY. Backend failures reject with StorageError EDGE_ERR_STORAGE.
 * A key is never also the prefix of other keys (a file system cannot hold both); callers keep it so.
 */
export interface Storage {
  /** The value, or null when the key is not stored. */
  get(key: string): Promise<Buffer | null>;
  /** Stores atomically: a reader (in any process) sees the old value or the new one, never part of either. */
  put(key: string, value: string | Buffer, opts?: PutOptions): Promise<void>;
  /**
   * Stores several values as a set: either every key gets its new value or none changes (a full disk, an
   * unwritable file). Readers in other processes may briefly see some new and some old values while it
   * runs, as with separate puts, so a set needs a way to tell (the certificate store checks fingerprints).
   */
  putAll(entries: ReadonlyArray<{ readonly key: string; readonly value: string | Buffer; readonly opts?: PutOptions }>): Promise<void>;
  /** Removes a key; a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** Every key under `prefix` (a namespace or a deeper segment path), recursively, sorted. */
  list(prefix: string): Promise<string[]>;
  /** Size and last modification, or null when the key is not stored. */
  stat(key: string): Promise<StorageStat | null>;
  /**
   * Takes the lease `name` (a key-shaped name), waiting while another client holds it, and taking over a
   * lease whose TTL ran out. Callers in this client queue in order on an in-process mutex: they never wait
   * on the backend for themselves, and a timeout names this process rather than its own pid.
   */
  lock(name: string, opts?: LockOptions): Promise<Lease>;
  /**
   * Calls `onChange` within about a second after any put or delete under `prefix` by any client sharing the
   * backing store (this one included). Calls may be coalesced, and may also come for other changes in the
   * same namespace: it is a hint to re-read, never a diff.
   */
  watch(prefix: string, onChange: () => void): Watcher;
  /** For logs: `file:/srv/edge/certs`. */
  describe(): string;
  /** Stops watchers and releases held leases; later calls reject. */
  close(): Promise<void>;
}

export const DEFAULT_LEASE_TTL_MS = 30_000;
export const DEFAULT_LOCK_WAIT_MS = 120_000;

// Not dot-leading: implementations keep temp files and bookkeeping under dot names, which no key can reach.
// One alphabet for every backend: HTTP-01 tokens are base64url, certificate folders are lower-case DNS names.
const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}$/;
const MAX_KEY = 1024;

/** true for one segment of a key below its namespace. */
export function isKeySegment(s: string): boolean {
  return SEGMENT.test(s);
}

/**
 * Checks a key (`kind: 'key'`: a namespace and at least one segment) or a prefix (`'prefix'`: a namespace,
 * optionally deeper; a trailing `/` is allowed). Returns the segments; throws StorageError EDGE_ERR_STORAGE_KEY.
 */
export function checkKey(key: string, kind: 'key' | 'prefix' = 'key'): string[] {
  const bad = (why: string) => new StorageError(ErrorCodes.STORAGE_KEY, String(key), `not a storage ${kind}: ${JSON.stringify(key)} (${why})`);
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY) throw bad(`1-${MAX_KEY} characters`);
  const trimmed = kind === 'prefix' && key.endsWith('/') ? key.slice(0, -1) : key;
  const segments = trimmed.split('/');
  if (!(NAMESPACES as readonly string[]).includes(segments[0]!)) throw bad(`the first segment must be one of ${NAMESPACES.join(', ')}`);
  if (kind === 'key' && segments.length < 2) throw bad('a namespace alone is not a key');
  for (const s of segments.slice(1)) {
    if (!isKeySegment(s)) throw bad('segments are A-Z a-z 0-9 . _ -, not empty and not starting with a dot');
  }
  return segments;
}


/**
 * For implementations: runs one operation on `key` with backend failures as StorageError EDGE_ERR_STORAGE
 * naming the key and the storage, and refuses every operation once the storage is closed.
 */
export function storageOps(describe: () => string, isClosed: () => boolean) {
  return async <T>(key: string, what: string, fn: () => Promise<T>): Promise<T> => {
    if (isClosed()) throw new StorageError(ErrorCodes.STORAGE, key, `cannot ${what} ${key}: the storage (${describe()}) is closed`);
    try {
      return await fn();
    } catch (err) {
      if (err instanceof StorageError) throw err;
      throw new StorageError(ErrorCodes.STORAGE, key, `cannot ${what} ${key} in ${describe()}: ${(err as Error).message}`, { cause: err });
    }
  };
}
