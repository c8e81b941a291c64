/**
 * The fleet document: the fleet's rules (split.ts) as one versioned record in the shared storage at
 * `state/fleet/config`: `{ version, etag, at, by, document }`. A new version is written with
 * compare-and-set on the ETag of the version it was made from (SharedStorage.putIfTag, one Lua script in
 * Redis), so two writers that started from the same version cannot both win: the second is told and
 * nothing of it is stored. The ETag names the version and the content (`"7-3f2a…"`), so a version number
 * reused after Redis lost its data never matches an old ETag.
 */
import { createHash } from 'node:crypto';
import { hashCanonical } from '../config/document.ts';
import { ConfigError, ErrorCodes } from '../errors.ts';
import type { Watcher } from '../storage/contract.ts';
import type { SharedStorage } from '../storage/redis.ts';
import type { Doc } from './split.ts';

export const FLEET_DOCUMENT_KEY = 'state/fleet/config';

export interface FleetRecord {
  readonly version: number;
  /** A strong ETag (RFC 9110 8.8.3) of this version. */
  readonly etag: string;
  readonly at: string;
  /** The edge that wrote it (edges.ts names edges). */
  readonly by: string;
  readonly document: Doc;
}

export interface FleetDocument {
  /** The record stored now (the local copy's while the storage is unreachable); null when there is none. */
  fetch(): Promise<FleetRecord | null>;
  /** The newest record this process has fetched or written; null before any. */
  latest(): FleetRecord | null;
  /** The record of `document` as the version after `base` (null: the first one); nothing is stored. */
  next(base: FleetRecord | null, document: Doc, by: string, now: Date): FleetRecord;
  /**
   * Stores `record` (made by next() from `base`) only while `base` is still the stored version; false when
   * another writer got there first.
   */
  write(base: FleetRecord | null, record: FleetRecord): Promise<boolean>;
  /** Stores `record` as it is when no document is stored (Redis lost its data); false when one is. */
  restore(record: FleetRecord): Promise<boolean>;
  /** Calls `onChange` after any write of the document (by any edge), and after the storage reconnects. */
  watch(onChange: () => void): Watcher;
}

/** The ETag of version `version` holding `document`. */
export function fleetEtag(version: number, document: Doc): string {
  const h = createHash('sha256');
  hashCanonical(h, document);
  return `"${version}-${h.digest('hex').slice(0, 16)}"`;
}

function parseRecord(raw: Buffer, where: string): FleetRecord {
  try {
    const r = JSON.parse(raw.toString('utf8')) as FleetRecord;
    if (typeof r.version === 'number' && typeof r.etag === 'string' && typeof r.document === 'object' && r.document !== null) return r;
  } catch { /* reported below */ }
  throw new ConfigError(ErrorCodes.CONFIG_READ, `the fleet document in ${where} (${FLEET_DOCUMENT_KEY}) is not a record this edge wrote: write a new one with idcs-edge config import`);
}

export function createFleetDocument(storage: SharedStorage): FleetDocument {
  let latest: FleetRecord | null = null;
  // What is stored is the truth; a missing document (Redis lost its data) leaves the last one known.
  const seen = (r: FleetRecord | null) => {
    if (r) latest = r;
    return r;
  };
  const put = (expected: string | null, r: FleetRecord) => storage.putIfTag(FLEET_DOCUMENT_KEY, expected, r.etag, `${JSON.stringify(r)}\n`);
  return {
    async fetch() {
      const raw = await storage.get(FLEET_DOCUMENT_KEY);
      return seen(raw === null ? null : parseRecord(raw, storage.describe()));
    },
    latest: () => latest,
    next(base, document, by, now) {
      const version = (base?.version ?? 0) + 1;
      return { version, etag: fleetEtag(version, document), at: now.toISOString(), by, document };
    },
    async write(base, record) {
      if (!(await put(base?.etag ?? null, record))) return false;
      seen(record);
      return true;
    },
    async restore(record) {
      return put(null, record);
    },
    watch: (onChange) => storage.watch(FLEET_DOCUMENT_KEY, onChange),
  };
}
