/**
 * The fleet's renewal scheduler is wherever a lease is: `state/fleet/renewal` in the shared storage, taken
 * with SET NX PX and refreshed every third of its TTL by the holder (storage/leases.ts). Every other edge
 * tries to take it every quarter TTL, so when its holder dies (SIGKILL, a lost host) another edge holds it
 * within about one lease period (the lease lapses at most one TTL after the holder's last refresh, and a
 * try follows within a quarter more) and runs a scan at once (the old holder may have died before its own).
 * A lease, not a vote: no quorum, no protocol, and an edge cut off from Redis stops being the scheduler
 * once its lease lapses. Lost or released, the lease changes hands; the holder's name is in its edge record.
 */
import { LockTimeoutError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Lease, Storage } from '../storage/contract.ts';

export const RENEWAL_LEASE = 'state/fleet/renewal';

export interface Leadership {
  /** true while this edge holds the lease. */
  isLeader(): boolean;
  /** Starts trying to take the lease; `onChange(true)` when it is taken (scan now), `onChange(false)` when it is lost. */
  start(onChange: (leader: boolean) => void): void;
  /** Stops trying and gives the lease up, so another edge takes over at once. */
  close(): Promise<void>;
}

export function createLeadership(o: { storage: Storage; ttlMs: number; log: Logger }): Leadership {
  const { storage, log } = o;
  let lease: Lease | null = null;
  let timer: NodeJS.Timeout | null = null;
  let closed = false;
  let onChange: (leader: boolean) => void = () => {};
  let lastHolder = '';

  const retryLater = () => {
    if (closed) return;
    // Jitter keeps the edges from asking in lock-step.
    timer = setTimeout(() => { void attempt(); }, Math.round(o.ttlMs / 4 * (0.75 + Math.random() / 2)));
    timer.unref();
  };

  const attempt = async () => {
    timer = null;
    if (closed) return;
    try {
      const got = await storage.lock(RENEWAL_LEASE, { ttlMs: o.ttlMs, waitMs: 0 });
      if (closed) { await got.release().catch(() => {}); return; }
      lease = got;
      log.info({ lease: RENEWAL_LEASE }, 'this edge runs the fleet\'s renewal scheduler now');
      got.lost.addEventListener('abort', () => {
        if (lease !== got) return;
        lease = null;
        log.warn({ lease: RENEWAL_LEASE }, 'renewal scheduler lease lost: another edge takes over');
        onChange(false);
        retryLater();
      }, { once: true });
      onChange(true);
    } catch (err) {
      // Held by another edge (the usual case), or the storage is unreachable: ask again later.
      const holder = err instanceof LockTimeoutError ? err.holderText : (err as Error).message;
      if (holder !== lastHolder) log.debug({ lease: RENEWAL_LEASE, holder }, 'renewal scheduler lease held elsewhere');
      lastHolder = holder;
      retryLater();
    }
  };

  return {
    isLeader: () => lease !== null && !lease.lost.aborted,
    start(cb) {
      onChange = cb;
      if (!closed && !timer && !lease) void attempt();
    },
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      const held = lease;
      lease = null;
      await held?.release().catch(() => {});
    },
  };
}
