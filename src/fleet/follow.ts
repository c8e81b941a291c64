/**
 * How an edge follows the fleet document: every new version (told by the storage's change notification,
 * within milliseconds, and found by a check every few seconds as a safety net) is merged with the edge's
 * own file and applied through its apply pipeline (source `redis`); the result goes into the edge's record
 * (edges.ts), so the edge that wrote the version learns of a refusal. Versions are taken one at a time and
 * only the newest counts: a burst of writes is one apply of the last. A refused version is not tried again
 * until a newer one comes (or SIGHUP, after the file it needed is fixed). When the storage is back after an
 * outage, the notification makes the edge read the document again; when the document is gone (Redis
 * restarted without persistence, flushed) the edge writes back the version it knows (compare-and-set
 * against "none", so one edge does it), since an accepted write must not be lost.
 */
import type { ApplyResult } from '../config/apply.ts';
import type { Logger } from '../log.ts';
import type { SharedStorage } from '../storage/redis.ts';
import type { FleetDocument, FleetRecord } from './document.ts';
import type { FleetEdges } from './edges.ts';

export interface FleetFollower {
  /** Starts following (watch and periodic check) and checks at once. */
  start(): void;
  /** Records what this edge did with `record` (its start, its own API write), so it is not applied again. */
  ran(record: FleetRecord, result: ApplyResult | null): Promise<void>;
  /**
   * Marks a version this edge is storing itself (its change notice may come before the write's answer);
   * the function returned drops the mark (a write that failed, or whose answer was lost: the periodic
   * check then applies the version if it was stored after all).
   */
  claim(etag: string): () => void;
  /** The version this edge serves (null before the first, or when the fleet had no document). */
  running(): FleetRecord | null;
  close(): void;
}

export interface FollowerOptions {
  readonly doc: FleetDocument;
  readonly edges: FleetEdges;
  readonly shared: SharedStorage;
  /** Merges the version with the edge's file and applies it (source `redis`). */
  apply(record: FleetRecord): Promise<ApplyResult>;
  readonly log: Logger;
  /** The safety-net check (default 5 s). */
  readonly checkEveryMs?: number;
}

export function createFleetFollower(o: FollowerOptions): FleetFollower {
  const { doc, edges, log } = o;
  let running: FleetRecord | null = null;
  // The ETag of the last version this edge applied or refused, and of those it is writing itself.
  let handled: string | null = null;
  const own = new Set<string>();
  let busy: Promise<void> | null = null;
  let again = false;
  let closed = false;
  let timer: NodeJS.Timeout | null = null;
  let watcher: { close(): void } | null = null;

  const ran = async (record: FleetRecord, result: ApplyResult | null) => {
    handled = record.etag;
    const ref = { version: record.version, etag: record.etag, at: new Date().toISOString() };
    if (result === null || result.ok) {
      running = record;
      await edges.update({ running: ref, refused: null });
      return;
    }
    log.error({ version: record.version, by: record.by, code: result.error?.code, running: running?.version ?? null },
      'fleet config version refused: this edge keeps serving the version it runs');
    await edges.update({ refused: { ...ref, code: result.error?.code ?? 'EDGE_ERR_CONFIG_INVALID', message: result.error?.message ?? 'refused',
      issues: (result.issues ?? []).map((i) => ({ path: i.path, message: i.message })) } });
  };

  const checkOnce = async () => {
    let record: FleetRecord | null;
    try {
      record = await doc.fetch();
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'fleet document not read (the next check retries)');
      return;
    }
    if (record === null) {
      const known = doc.latest();
      if (known && o.shared.connected() && await doc.restore(known).catch(() => false)) {
        log.warn({ version: known.version, etag: known.etag }, 'the fleet document was missing from Redis (restarted without persistence, or flushed): restored the version this edge knows');
      }
      return;
    }
    if (record.etag === handled || own.has(record.etag)) return;
    const result = await o.apply(record);
    if (result.ok) log.info({ version: record.version, by: record.by }, 'fleet config version applied');
    await ran(record, result);
  };

  const check = (): Promise<void> => {
    if (closed) return Promise.resolve();
    if (busy) {
      again = true;
      return busy;
    }
    busy = (async () => {
      do {
        again = false;
        await checkOnce().catch((err: Error) => log.error({ err: err.message }, 'fleet document check failed'));
      } while (again && !closed);
    })().finally(() => { busy = null; });
    return busy;
  };

  return {
    start() {
      if (closed || timer) return;
      watcher = doc.watch(() => { void check(); });
      timer = setInterval(() => { void check(); }, o.checkEveryMs ?? 5_000);
      timer.unref();
      void check();
    },
    ran,
    claim(etag) {
      own.add(etag);
      return () => { own.delete(etag); };
    },
    running: () => running,
    close() {
      closed = true;
      if (timer) clearInterval(timer);
      watcher?.close();
    },
  };
}
