/**
 * The part of Storage.lock() that is the same for every backend: callers of one client queue on an
 * in-process mutex per name (so a second attempt in this process never polls the backend for its own lease
 * and never reports its own pid as the blocker), waiting for other clients polls the backend with jitter
 * until `waitMs` or the signal, held leases are refreshed every TTL/3, and `lost` aborts when a refresh
 * finds the lease gone. A backend only says, in one call each, whether it could take, extend or drop a lease.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { ErrorCodes, LockTimeoutError, StorageError, type LeaseHolder } from '../errors.ts';
import type { Logger } from '../log.ts';
import { checkKey, DEFAULT_LEASE_TTL_MS, DEFAULT_LOCK_WAIT_MS, type Lease, type LockOptions } from './contract.ts';

/** What a backend keeps for a held lease. `started` tells a restarted process from its predecessor with the same pid. */
export interface LeaseRecord extends LeaseHolder {
  readonly token: string;
  readonly ttlMs: number;
  readonly started: number;
}

export interface LeaseBackend {
  /** Takes the lease when it is free or expired; otherwise resolves to its holder (null: unknown). */
  tryAcquire(name: string, record: LeaseRecord): Promise<{ acquired: true } | { acquired: false; holder: LeaseHolder | null }>;
  /** Extends our lease; false when it is gone or held under another token. */
  refresh(name: string, record: LeaseRecord): Promise<boolean>;
  /** Removes the lease if it is still held under our token. */
  release(name: string, record: LeaseRecord): Promise<void>;
}

export interface LeaseManager {
  lock(name: string, opts?: LockOptions): Promise<Lease>;
  /** Releases every held lease and fails every queued caller. */
  close(): Promise<void>;
}

/** `pid 123 on web1 since 2025-03-01T00:00:00.000Z`, or a neutral phrase when the backend could not say. */
export function describeHolder(h: LeaseHolder | null): string {
  return h ? `pid ${h.pid} on ${h.host} since ${h.since}` : 'another client (its lease record is unreadable)';
}

const MAX_TIMER_MS = 2 ** 31 - 1;

interface Turn {
  /** When the caller holding this name's turn got it. */
  since: string;
  readonly waiters: Array<{ wake(): void; fail(err: Error): void }>;
}

/** The backend with its failures as StorageError EDGE_ERR_STORAGE naming the lease. */
function wrapped(b: LeaseBackend): LeaseBackend {
  const io = <A extends unknown[], T>(what: string, fn: (name: string, ...a: A) => Promise<T>) => async (name: string, ...a: A): Promise<T> => {
    try {
      return await fn(name, ...a);
    } catch (err) {
      if (err instanceof StorageError) throw err;
      throw new StorageError(ErrorCodes.STORAGE, name, `cannot ${what} the lease on ${name}: ${(err as Error).message}`, { cause: err });
    }
  };
  return { tryAcquire: io('take', b.tryAcquire), refresh: io('refresh', b.refresh), release: io('release', b.release) };
}

export function createLeaseManager(raw: LeaseBackend, opts: { log: Logger; pollMs?: number; started: number; ttlMs?: number }): LeaseManager {
  const backend = wrapped(raw);
  const turns = new Map<string, Turn>();
  const held = new Set<{ release(): Promise<void> }>();
  const pollMs = opts.pollMs ?? 200;
  let closed = false;
  const closedError = (name: string) => new StorageError(ErrorCodes.STORAGE, name, 'the storage is closed');

  /** Waits for this name's in-process turn, in arrival order. */
  const takeTurn = (name: string, waitMs: number, signal: AbortSignal | undefined): Promise<void> => {
    const turn = turns.get(name);
    if (!turn) {
      turns.set(name, { since: new Date().toISOString(), waiters: [] });
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const i = turn.waiters.indexOf(waiter);
        if (i >= 0) turn.waiters.splice(i, 1);
      };
      const waiter = {
        wake: () => { done(); turn.since = new Date().toISOString(); resolve(); },
        fail: (err: Error) => { done(); reject(err); },
      };
      const onAbort = () => waiter.fail(signal!.reason as Error);
      // Longer than setTimeout can count (about 24 days) is as good as forever.
      const timer = waitMs <= MAX_TIMER_MS ? setTimeout(() => waiter.fail(new LockTimeoutError(name, null,
        `this process (another operation on ${name} since ${turn.since})`, waitMs)), waitMs) : undefined;
      turn.waiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  };

  const passTurn = (name: string) => {
    const turn = turns.get(name);
    const next = turn?.waiters[0];
    if (next) next.wake();
    else turns.delete(name);
  };

  /** Polls the backend until the lease is ours, the deadline passes or the signal aborts. */
  const acquire = async (name: string, record: LeaseRecord, deadline: number, waitMs: number, signal: AbortSignal | undefined) => {
    for (;;) {
      if (closed) throw closedError(name);
      const r = await backend.tryAcquire(name, record);
      if (r.acquired) return;
      if (Date.now() >= deadline) throw new LockTimeoutError(name, r.holder, describeHolder(r.holder), waitMs);
      // Jitter keeps two waiters from polling in lock-step.
      const wait = Math.min(pollMs * (0.5 + Math.random()), Math.max(0, deadline - Date.now()));
      await delay(wait, undefined, signal ? { signal } : {}).catch(() => { throw signal!.reason; });
    }
  };

  const lock = async (name: string, lockOpts: LockOptions = {}): Promise<Lease> => {
    checkKey(name);
    if (closed) throw closedError(name);
    const ttlMs = lockOpts.ttlMs ?? opts.ttlMs ?? DEFAULT_LEASE_TTL_MS;
    const waitMs = lockOpts.waitMs ?? DEFAULT_LOCK_WAIT_MS;
    const { signal } = lockOpts;
    signal?.throwIfAborted();
    const deadline = Date.now() + waitMs;
    await takeTurn(name, waitMs, signal);
    const record: LeaseRecord = Object.freeze({ pid: process.pid, host: hostname(), since: new Date().toISOString(),
      token: randomUUID(), ttlMs, started: opts.started });
    try {
      await acquire(name, record, deadline, waitMs, signal);
      // Aborted while the last attempt was in flight: a lease nobody waits for would be refreshed forever.
      if (signal?.aborted) {
        await backend.release(name, record);
        throw signal.reason;
      }
    } catch (err) {
      passTurn(name);
      throw err;
    }
    return holdLease(name, record, lockOpts.autoRefresh ?? true);
  };

  const holdLease = (name: string, record: LeaseRecord, autoRefresh: boolean): Lease => {
    const lost = new AbortController();
    let released: Promise<void> | null = null;
    let lastRefresh = Date.now();
    const loseIt = () => {
      if (!lost.signal.aborted) {
        lost.abort(new StorageError(ErrorCodes.STORAGE_LEASE_LOST, name, `the lease on ${name} was lost (expired and taken over, or removed)`));
      }
      return lost.signal.reason as StorageError;
    };
    const refresh = async () => {
      if (released) throw new StorageError(ErrorCodes.STORAGE_LEASE_LOST, name, `the lease on ${name} was released`);
      if (lost.signal.aborted) throw lost.signal.reason as StorageError;
      if (!(await backend.refresh(name, record))) throw loseIt();
      lastRefresh = Date.now();
    };
    const timer = autoRefresh ? setInterval(() => {
      refresh().catch((err: unknown) => {
        if (lost.signal.aborted) { clearInterval(timer); return; }
        opts.log.warn({ lock: name, err: (err as Error).message }, 'lease refresh failed: retrying');
        // A lease not refreshed for its whole TTL may already be someone else's.
        if (Date.now() - lastRefresh > record.ttlMs) { loseIt(); clearInterval(timer); }
      });
    }, Math.max(10, Math.floor(record.ttlMs / 3))) : undefined;
    timer?.unref();
    const lease = {
      name,
      token: record.token,
      lost: lost.signal,
      refresh,
      release() {
        released ??= (async () => {
          clearInterval(timer);
          held.delete(lease);
          try {
            await backend.release(name, record);
          } finally {
            passTurn(name);
          }
        })();
        return released;
      },
    };
    held.add(lease);
    return Object.freeze(lease);
  };

  return {
    lock,
    async close() {
      closed = true;
      for (const [name, turn] of turns) for (const w of [...turn.waiters]) w.fail(closedError(name));
      await Promise.allSettled([...held].map((l) => l.release()));
    },
  };
}
