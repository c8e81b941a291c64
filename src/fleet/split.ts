/**
 * PURE: which top-level keys are the fleet's rules and which belong to one edge's host, with
 * `config.source: redis`. The fleet document in Redis holds what every edge must agree on; each edge's own
 * file holds what depends on its host. The effective config of an edge is its file's host part plus the
 * fleet document; a key on the wrong side is a config error naming it. README "Fleet" has the table and the
 * reason for each key.
 */
import { ConfigError, ErrorCodes, type ConfigIssue } from '../errors.ts';

/**
 * In the fleet document: the rules (proxies, VMs, forwards, trusted proxies), how certificates are got and
 * renewed (acme, renewal: one scheduler serves the fleet), what a visitor reads on an error page
 * (errorPages: it must not depend on which edge DNS picked) and where certificate alerts go (alerts: they
 * are sent by whichever edge holds the renewal lease).
 */
export const FLEET_KEYS = Object.freeze(['proxies', 'vms', 'forwards', 'trustedProxies', 'acme', 'renewal', 'errorPages', 'alerts'] as const);

/**
 * In the edge's own file: what is bound, opened or sized on its host (listen, log, admin, workers, data,
 * certs: its local copy of the certificates, demo), how it reaches the fleet (storage, config), and the
 * limits sized to its host and its supervisor (timeouts, limits, upstream pools, shutdown).
 */
export const HOST_KEYS = Object.freeze(['listen', 'log', 'storage', 'config', 'admin', 'workers', 'data', 'demo', 'certs', 'timeouts',
  'limits', 'upstream', 'shutdown'] as const);

export type FleetKey = (typeof FLEET_KEYS)[number];
export type Doc = Record<string, unknown>;

const isObject = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v);
const fleetKeys: ReadonlySet<string> = new Set(FLEET_KEYS);

/** true when a parsed edge file says `config.source: redis`. */
export function isFleetFile(doc: unknown): boolean {
  return isObject(doc) && isObject(doc.config) && doc.config.source === 'redis';
}

/** The fleet keys an edge file with `config.source: redis` must not hold, each named. */
export function hostFileIssues(doc: unknown): ConfigIssue[] {
  if (!isFleetFile(doc)) return [];
  return Object.keys(doc as Doc).filter((k) => fleetKeys.has(k)).map((k) => ({ path: k,
    message: `with config.source: redis, ${k} lives in the fleet document in Redis (idcs-edge config import, or the admin API), not in this file` }));
}

/** What is wrong with a fleet document: not a mapping, or a key of the edges' own files (each named). */
export function fleetDocumentIssues(doc: unknown): ConfigIssue[] {
  if (!isObject(doc)) return [{ path: '(root)', message: 'expected the fleet document as a mapping of keys (proxies, vms, forwards, ...)' }];
  return Object.keys(doc).filter((k) => !fleetKeys.has(k)).map((k) => ({ path: k,
    message: (HOST_KEYS as readonly string[]).includes(k)
      ? `${k} belongs to each edge's own file, not to the fleet document`
      : `unknown key: the fleet document holds ${FLEET_KEYS.join(', ')}` }));
}

/** The fleet keys of a whole config document (what `config export` writes for an edge that reads its rules from its file). */
export function rulesOf(doc: unknown): Doc {
  if (!isObject(doc)) return {};
  return Object.fromEntries(Object.entries(doc).filter(([k]) => fleetKeys.has(k)));
}

/** The effective document of an edge: its file's host part and the fleet's rules (neither holds the other's keys). */
export function mergeRules(host: Doc, rules: Doc): Doc {
  return { ...Object.fromEntries(Object.entries(host).filter(([k]) => !fleetKeys.has(k))), ...rulesOf(rules) };
}

/**
 * The effective document of a fleet edge: its file's host part with the fleet's rules. Throws ConfigError
 * naming each key the rules must not hold (a fleet document written by hand into Redis, an import).
 */
export function effectiveDocument(host: Doc, rules: unknown): Doc {
  const misplaced = fleetDocumentIssues(rules);
  if (misplaced.length) {
    throw new ConfigError(ErrorCodes.CONFIG_INVALID, `invalid fleet document:\n${misplaced.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`, { issues: misplaced });
  }
  return mergeRules(host, rules as Doc);
}
