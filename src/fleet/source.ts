/**
 * Where a running edge's rules come from, for the composition roots (main.ts, cluster/primary.ts): its
 * config file (`config.source: file`: reloads read the file, the admin API edits it), or the fleet
 * document (`config.source: redis`): the config to start on is the file's host part with the stored
 * version, reloads merge the file with the version the edge knows, new versions are followed
 * (follow.ts), the admin API reads and writes the fleet document (update.ts), the renewal scheduler runs
 * where the fleet's lease is (leader.ts), and the edge keeps its record (edges.ts).
 * At start without Redis, the edge starts on its local copy of the fleet document (storage/cached.ts);
 * without Redis and without a copy it refuses to start (EDGE_ERR_FLEET_UNAVAILABLE): it has no rules.
 */
import type { Registry } from 'prom-client';
import type { ApplyInput, ApplyResult, ApplySource } from '../config/apply.ts';
import { parseEdgeFile, readConfigText, validateConfig } from '../config/load.ts';
import type { EdgeConfig } from '../config/schema.ts';
import type { ApplyTarget } from '../config/update.ts';
import type { AdminRules } from '../admin/server.ts';
import { EdgeError, ErrorCodes } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Storage } from '../storage/contract.ts';
import { sharedOf } from '../storage/open.ts';
import type { SharedStorage } from '../storage/redis.ts';
import { createFleetDocument, type FleetDocument, type FleetRecord } from './document.ts';
import { createFleetEdges, type FleetEdges } from './edges.ts';
import { createFleetFollower, type FleetFollower } from './follow.ts';
import { createLeadership, type Leadership } from './leader.ts';
import { registerFleetMetrics } from './metrics.ts';
import { effectiveDocument, type Doc } from './split.ts';
import { EMPTY_FLEET_ETAG, createFleetUpdater } from './update.ts';

/** How long a write's answer waits for the other edges to take the new version. */
const WRITE_WAIT_MS = 2_000;

export interface RunningApplier extends ApplyTarget {
  apply(input: ApplyInput, source: ApplySource): Promise<ApplyResult>;
}

export interface Rules {
  /** The config to start on. */
  readonly first: EdgeConfig;
  /** A reload (the file watcher, SIGHUP) through `applier`. */
  reload(applier: RunningApplier, source: ApplySource): Promise<ApplyResult>;
  /** The fleet's renewal lease (for the control plane); undefined with config.source: file. */
  readonly leadership: Leadership | undefined;
  /** Told when this edge takes or loses the renewal lease. */
  onLeadership(leader: boolean): void;
  /** After the first apply committed: follow the fleet document through `applier`. */
  follow(applier: RunningApplier): void;
  /** The admin API's view of the rules, writing through `applier` (config.source: redis; else undefined). */
  admin(applier: RunningApplier): AdminRules | undefined;
  /** Why the edge is degraded now (/readyz, /api/v1/status). */
  degraded(): string[];
  /** Adds the storage and fleet gauges to `registry`. */
  registerMetrics(registry: Registry): void;
  close(): Promise<void>;
}

function unreachableReasons(shared: SharedStorage | null): string[] {
  return shared && !shared.connected() ? [`the storage ${shared.describe()} cannot be reached: serving what this edge has, writes are refused`] : [];
}

/**
 * The rules of an edge whose file is `configFile` (already validated as `config`), on `storage`. Without a
 * file (a worker, whose primary applies for it) the config is all there is.
 */
export async function openRules(o: { configFile: string | undefined; config: EdgeConfig; storage: Storage; log: Logger; now(): Date }): Promise<Rules> {
  const { configFile, config, storage } = o;
  const shared = sharedOf(storage);
  if (config.config.source !== 'redis' || shared === null || configFile === undefined) {
    return {
      first: config, leadership: undefined, onLeadership() {},
      reload: (applier, source) => (configFile === undefined ? Promise.reject(new Error('this edge has no config file to reload')) : applier.apply({ file: configFile }, source)),
      follow() {}, admin: () => undefined, degraded: () => unreachableReasons(shared),
      registerMetrics(registry) { if (shared) registerFleetMetrics(registry, { storageUp: () => shared.connected() }); },
      async close() {},
    };
  }
  return openFleetRules({ ...o, configFile, shared });
}

async function openFleetRules(o: { configFile: string; config: EdgeConfig; shared: SharedStorage; log: Logger; now(): Date }): Promise<Rules> {
  const { configFile, shared, log } = o;
  const doc: FleetDocument = createFleetDocument(shared);
  const stored = await doc.fetch();
  if (stored === null && !shared.connected()) {
    throw new EdgeError(ErrorCodes.FLEET_UNAVAILABLE, `cannot reach ${shared.describe()} at start, and this edge has no local copy of the fleet document `
      + `in ${o.config.certs.dir} (it has never run with this fleet): start Redis, or check storage.url`);
  }
  if (stored === null) log.warn('no fleet document in Redis yet: this edge serves no rules until one is written (idcs-edge config import, or the admin API)');
  else log.info({ version: stored.version, by: stored.by, connected: shared.connected() }, 'starting on fleet config version');
  const host = (): Doc => parseEdgeFile(readConfigText(configFile), configFile) as Doc;
  const label = (r: FleetRecord | null) => `${configFile} with fleet document version ${r?.version ?? 0}`;
  const load = (r: FleetRecord | null) => () => effectiveDocument(host(), r?.document ?? {});
  const first = validateConfig(load(stored)(), { file: label(stored) });

  const edges: FleetEdges = createFleetEdges({ storage: shared, log, now: o.now });
  const leadership = createLeadership({ storage: shared, ttlMs: o.config.storage.leaseTtlMs, log });
  let follower: FleetFollower | null = null;
  const running = () => follower?.running() ?? null;

  return {
    first,
    // The file with the version this edge knows (the newest it saw, applied or not: a SIGHUP after fixing
    // what made it refuse one applies it).
    async reload(applier, source) {
      const r = doc.latest();
      const result = await applier.apply({ load: load(r), file: label(r) }, source);
      if (r && result.ok) await follower?.ran(r, result);
      return result;
    },
    leadership,
    onLeadership: (leader) => { void edges.update({ renewalLeader: leader }); },
    follow(applier) {
      follower = createFleetFollower({ doc, edges, shared, log,
        apply: (r) => applier.apply({ load: load(r), file: label(r) }, 'redis') });
      if (stored) void follower.ran(stored, null);
      edges.start();
      follower.start();
    },
    admin(applier) {
      return {
        read: () => {
          const latest = doc.latest();
          return { etag: latest?.etag ?? EMPTY_FLEET_ETAG, value: latest?.document ?? {} };
        },
        updater: createFleetUpdater({ doc, shared, edges, host, file: configFile, target: applier, by: edges.id, now: o.now, log,
          waitMs: WRITE_WAIT_MS, onWriting: (r) => follower?.claim(r.etag) ?? (() => {}), onWritten: (r, result) => { void follower?.ran(r, result); } }),
        async status() {
          const latest = doc.latest();
          const r = running();
          return {
            storage: shared.describe(), connected: shared.connected(), edge: edges.id, renewalLeader: leadership.isLeader(),
            document: latest && { version: latest.version, etag: latest.etag, at: latest.at, by: latest.by },
            running: r && { version: r.version, etag: r.etag },
            edges: await edges.list().catch(() => null),
          };
        },
      };
    },
    degraded() {
      const reasons = unreachableReasons(shared);
      const latest = doc.latest();
      const r = running();
      if (latest && r && latest.etag !== r.etag) reasons.push(`this edge serves fleet version ${r.version}, not the current ${latest.version} (see GET /api/v1/status)`);
      return reasons;
    },
    registerMetrics(registry) {
      registerFleetMetrics(registry, { storageUp: () => shared.connected(), version: () => running()?.version ?? null, leader: () => leadership.isLeader() });
    },
    async close() {
      follower?.close();
      await edges.close();
    },
  };
}
