/**
 * Config writes with `config.source: redis` (the admin API, `idcs-edge config import`, the CSV imports):
 * the same ConfigUpdater contract as the file's (config/update.ts), on the fleet document. Each write is
 * made from the version stored now, merged with this edge's own file and prepared through its apply
 * pipeline (so an invalid change is refused with the usual 400 and never stored), then stored with
 * compare-and-set on the ETag of the version it was made from, then committed. Two writes made from the
 * same version through different edges: one is stored, the other is refused 412 when it named that
 * version in If-Match, and otherwise made again on the new version. While Redis cannot be reached every
 * write is refused 503 EDGE_ERR_FLEET_UNAVAILABLE: nothing is accepted that the fleet would not see.
 * The answer says how the other edges took the new version (edges.ts), waiting up to `waitMs` for them
 * after the write (other writes through this edge do not wait behind that).
 */
import type { ApplyResult } from '../config/apply.ts';
import { refusalError } from '../config/apply.ts';
import { checkDocument, ifMatchAccepts, type ApplyTarget, type ConfigUpdater, type Edit, type UpdateOptions, type UpdateOutcome } from '../config/update.ts';
import { ConfigError, EdgeError, ErrorCodes, StorageError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { SharedStorage } from '../storage/redis.ts';
import { fleetEtag, type FleetDocument, type FleetRecord } from './document.ts';
import type { FleetEdges } from './edges.ts';
import { effectiveDocument, type Doc } from './split.ts';

/** Rebuilds on a newer version this many times before giving up (writers that keep racing). */
const ATTEMPTS = 5;

export interface FleetUpdaterOptions {
  readonly doc: FleetDocument;
  readonly shared: SharedStorage;
  /** This edge's record keeper; null for a CLI write (it then does not wait for the fleet). */
  readonly edges: FleetEdges | null;
  /** This edge's own file, parsed now (its host part); throws ConfigError. */
  host(): Doc;
  /** The edge file, for messages. */
  readonly file: string;
  /** The running edge's apply pipeline; null: validate as --check-config does and store. */
  readonly target: ApplyTarget | null;
  /** Who writes (an edge id, or `cli@host`). */
  readonly by: string;
  now(): Date;
  /**
   * Told of a version this edge is about to store (so that its own change notice is not applied again);
   * the function returned is called once that write is over.
   */
  onWriting?(record: FleetRecord): () => void;
  /** Told of every version this edge stored and committed. */
  onWritten?(record: FleetRecord, result: ApplyResult | null): void;
  /** How long a write's answer waits for the other edges to take the new version. */
  readonly waitMs: number;
  readonly log: Logger;
}

/** The ETag a write must name when the fleet has no document yet. */
export const EMPTY_FLEET_ETAG = fleetEtag(0, {});

export function fleetUnavailable(where: string, cause?: unknown): EdgeError {
  return new EdgeError(ErrorCodes.FLEET_UNAVAILABLE,
    `the fleet's storage (${where}) cannot be reached: the write was refused and nothing changed; retry once it is back`, { cause });
}

export function createFleetUpdater(o: FleetUpdaterOptions): ConfigUpdater {
  const where = o.shared.describe();
  let queue: Promise<unknown> = Promise.resolve();
  const reachable = <T>(p: Promise<T>): Promise<T> => p.catch((err: unknown) => {
    throw err instanceof StorageError ? fleetUnavailable(where, err) : err;
  });

  /** One write, serialised with the others of this edge: resolves the outcome and the version stored (null: none). */
  const updateOnce = async <T>(edit: Edit<T>, opts: UpdateOptions): Promise<UpdateOutcome<T> & { written: FleetRecord | null }> => {
    for (let attempt = 1; ; attempt++) {
      if (!o.shared.connected()) throw fleetUnavailable(where);
      const base = await reachable(o.doc.fetch());
      const etag = base?.etag ?? EMPTY_FLEET_ETAG;
      if (opts.ifMatch !== undefined && !ifMatchAccepts(opts.ifMatch, etag)) {
        throw new EdgeError(ErrorCodes.ADMIN_PRECONDITION, `the fleet document changed since ${opts.ifMatch} was read (now ${etag}): read it again and retry`);
      }
      const edited = edit(base?.document ?? {});
      const explain = (err: unknown) => (err instanceof ConfigError && edited.explain ? edited.explain(err) : err);
      const label = `${o.file} with the fleet document`;
      const load = () => effectiveDocument(o.host(), edited.next);
      if (opts.dryRun || o.target === null) {
        try { checkDocument(load(), label, o.now()); } catch (err) { throw explain(err); }
        if (opts.dryRun) return { result: null, etag, detail: edited.detail, written: null };
      }
      const prepared = o.target ? await o.target.prepare({ load, file: label }, 'api') : null;
      if (prepared && !('commit' in prepared)) throw explain(refusalError(prepared));
      const next = o.doc.next(base, edited.next, o.by, o.now());
      const release = o.onWriting?.(next);
      let stored: boolean;
      try {
        stored = await reachable(o.doc.write(base, next));
      } catch (err) {
        prepared?.abort();
        release?.();
        throw err;
      }
      if (!stored) {
        release?.();
        prepared?.abort();
        if (opts.ifMatch !== undefined) {
          throw new EdgeError(ErrorCodes.ADMIN_PRECONDITION, `the fleet document changed since ${opts.ifMatch} was read (another edge wrote first): read it again and retry`);
        }
        if (attempt >= ATTEMPTS) throw new EdgeError(ErrorCodes.ADMIN_CONFLICT, 'the fleet document kept changing while this write was made: nothing was changed, retry');
        continue;
      }
      const result = prepared ? prepared.commit() : null;
      o.onWritten?.(next, result);
      release?.();
      return { result, etag: next.etag, detail: edited.detail, written: next };
    }
  };

  /** How the fleet took `written` (waiting for the other edges), for the write's answer. */
  const report = async (written: FleetRecord) => {
    const fleet = o.edges ? await o.edges.outcome(written, o.waitMs) : null;
    if (fleet?.refused.length) o.log.warn({ version: written.version, refused: fleet.refused }, 'fleet edges refused the version this edge wrote');
    return fleet ?? { version: written.version, etag: written.etag };
  };

  return {
    async update(edit, opts = {}) {
      const run = queue.then(() => updateOnce(edit, opts));
      queue = run.catch(() => {});
      const { written, ...outcome } = await run;
      return written ? { ...outcome, extra: { fleet: await report(written) } } : outcome;
    },
  };
}
