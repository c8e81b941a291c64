/**
 * The edges of a fleet as the shared storage knows them: each edge keeps one record at
 * `state/fleet/edges/<id>` saying which version of the fleet document it runs, the last version it
 * refused (and why), whether it holds the renewal lease, and a heartbeat. That is how a version that some
 * edge refuses is reported through the API of the edge that wrote it (its write answer waits briefly for
 * the others' records; GET /api/v1/status lists them all). A record whose heartbeat is older than
 * LIVE_MS is not waited for; one older than PRUNE_MS (an edge that died) is removed by whoever lists.
 */
import { hostname } from 'node:os';
import type { ConfigIssue } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Storage } from '../storage/contract.ts';
import type { FleetRecord } from './document.ts';

const PREFIX = 'state/fleet/edges';
const HEARTBEAT_MS = 5_000;
const LIVE_MS = 15_000;
const PRUNE_MS = 10 * 60_000;

export interface VersionRef {
  readonly version: number;
  readonly etag: string;
  readonly at: string;
}

export interface Refusal extends VersionRef {
  readonly code: string;
  readonly message: string;
  readonly issues: readonly ConfigIssue[];
}

export interface EdgeRecord {
  readonly edge: string;
  readonly host: string;
  readonly pid: number;
  readonly startedAt: string;
  readonly heartbeatAt: string;
  /** The fleet document version this edge serves. */
  readonly running: VersionRef | null;
  /** The last version it refused, while it has not applied a newer one since. */
  readonly refused: Refusal | null;
  readonly renewalLeader: boolean;
}

export interface EdgeView extends EdgeRecord {
  /** Heartbeat within the last 15 s. */
  readonly live: boolean;
}

/** How the fleet took one version: the edges that run it, refused it, or have not said yet. */
export interface FleetOutcome {
  readonly version: number;
  readonly etag: string;
  readonly applied: readonly string[];
  readonly refused: ReadonlyArray<{ readonly edge: string; readonly code: string; readonly message: string; readonly issues: readonly ConfigIssue[] }>;
  readonly pending: readonly string[];
}

export interface FleetEdges {
  readonly id: string;
  /** Changes this edge's record and writes it (a failure is logged: the next heartbeat writes it again). */
  update(change: Partial<Pick<EdgeRecord, 'running' | 'refused' | 'renewalLeader'>>): Promise<void>;
  /** Every edge with a record, this one included, by id. */
  list(): Promise<EdgeView[]>;
  /** How the live edges took `record`, waiting up to `timeoutMs` for those that have not said. */
  outcome(record: FleetRecord, timeoutMs: number): Promise<FleetOutcome>;
  /** Starts the heartbeat. */
  start(): void;
  /** Stops it and removes this edge's record. */
  close(): Promise<void>;
}

/** This process's id in the fleet: `<host>-<pid>` (what a storage key segment allows). */
export function edgeId(): string {
  const host = hostname().replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[._]+/, '') || 'edge';
  return `${host}-${process.pid}`;
}

export function createFleetEdges(o: { storage: Storage; log: Logger; now: () => Date }): FleetEdges {
  const { storage, log } = o;
  const id = edgeId();
  let record: EdgeRecord = { edge: id, host: hostname(), pid: process.pid, startedAt: o.now().toISOString(), heartbeatAt: o.now().toISOString(),
    running: null, refused: null, renewalLeader: false };
  let timer: NodeJS.Timeout | null = null;
  let closed = false;

  const write = async () => {
    if (closed) return;
    record = { ...record, heartbeatAt: o.now().toISOString() };
    await storage.put(`${PREFIX}/${id}`, JSON.stringify(record))
      .catch((err: Error) => log.debug({ err: err.message }, 'fleet edge record not written (the next heartbeat retries)'));
  };

  const list = async (): Promise<EdgeView[]> => {
    const now = o.now().getTime();
    const out: EdgeView[] = [];
    for (const key of await storage.list(PREFIX)) {
      const raw = await storage.get(key);
      if (raw === null) continue;
      let r: EdgeRecord;
      try { r = JSON.parse(raw.toString('utf8')) as EdgeRecord; } catch { continue; }
      const age = now - Date.parse(r.heartbeatAt);
      if (age > PRUNE_MS && r.edge !== id) {
        await storage.delete(key).catch(() => {});
        continue;
      }
      out.push({ ...r, live: age <= LIVE_MS });
    }
    return out.sort((a, b) => a.edge.localeCompare(b.edge));
  };

  const outcomeNow = (edges: readonly EdgeView[], v: FleetRecord): FleetOutcome & { done: boolean } => {
    const applied: string[] = [];
    const refused: Array<FleetOutcome['refused'][number]> = [];
    const pending: string[] = [];
    for (const e of edges) {
      if (e.running && (e.running.etag === v.etag || e.running.version > v.version)) applied.push(e.edge);
      else if (e.refused && e.refused.etag === v.etag) refused.push({ edge: e.edge, code: e.refused.code, message: e.refused.message, issues: e.refused.issues });
      else if (e.live) pending.push(e.edge);
    }
    return { version: v.version, etag: v.etag, applied, refused, pending, done: pending.length === 0 };
  };

  return {
    id,
    async update(change) {
      record = { ...record, ...change };
      await write();
    },
    list,
    async outcome(v, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      let wake: (() => void) | null = null;
      const watcher = storage.watch(PREFIX, () => wake?.());
      try {
        for (;;) {
          const { done, ...now } = outcomeNow(await list().catch(() => []), v);
          if (done || Date.now() >= deadline) return now;
          await new Promise<void>((r) => {
            wake = r;
            setTimeout(r, Math.min(200, Math.max(0, deadline - Date.now()))).unref();
          });
        }
      } finally {
        watcher.close();
      }
    },
    start() {
      if (timer || closed) return;
      void write();
      timer = setInterval(() => { void write(); }, HEARTBEAT_MS);
      timer.unref();
    },
    async close() {
      if (timer) clearInterval(timer);
      timer = null;
      closed = true;
      await storage.delete(`${PREFIX}/${id}`).catch(() => {});
    },
  };
}
