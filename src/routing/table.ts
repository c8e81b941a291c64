/**
 * The immutable route table: built once per config (off the hot path), swapped whole on reload.
 * Pure: plain data in, plain data out; every per-request answer is precomputed so that a lookup is at
 * most three map reads and allocates nothing on success.
 */
import { isIP } from 'node:net';
import type { CertSource, EdgeConfig, ProxyRule } from '../config/schema.ts';
import { ErrorCodes } from '../errors.ts';
import { firstLabel, normalizeHost, parentDomain } from './host.ts';

export interface UpstreamTls {
  readonly insecureSkipVerify: boolean;
  readonly caFile: string | undefined;
  readonly serverName: string | undefined;
}

/** Where a route sends traffic: one VM service. */
export interface Upstream {
  readonly protocol: 'http' | 'https';
  readonly host: string;
  readonly port: number;
  /** `http://10.0.0.5:80`: what logs and error pages name. */
  readonly origin: string;
  readonly tls: UpstreamTls | null;
  /** Identity of the connection pool: same key, same keep-alive agent across reloads. */
  readonly poolKey: string;
}

export type RouteKind = 'exact' | 'wildcard' | 'template';

export interface Route {
  /** The configured domain, normalised: `app.example.com` or `*.user1.example.com`. */
  readonly domain: string;
  readonly index: number;
  readonly kind: RouteKind;
  readonly ssl: boolean;
  readonly websocket: boolean;
  readonly certSource: CertSource;
  readonly certFile: string | undefined;
  readonly keyFile: string | undefined;
  readonly note: string | undefined;
  /** Template routes: the owner whose VMs the first label names. */
  readonly owner: string | undefined;
}

/** One certificate the table needs: its store name, the names in it, and where it comes from. */
export interface CertTarget {
  readonly name: string;
  readonly names: readonly string[];
  readonly source: CertSource;
  readonly certFile?: string;
  readonly keyFile?: string;
  /** The proxy's position in the config, for errors that name it. */
  readonly index: number;
}

export interface Match {
  readonly ok: true;
  readonly route: Route;
  readonly upstream: Upstream;
  /** The VM name for template routes. */
  readonly vm: string | undefined;
}

export interface Miss {
  readonly ok: false;
  readonly code: typeof ErrorCodes.NO_HOST | typeof ErrorCodes.NO_ROUTE | typeof ErrorCodes.NO_VM;
  readonly host: string;
  readonly route: Route | undefined;
  readonly message: string;
}

export type Resolution = Match | Miss;

interface WildcardEntry {
  readonly route: Route;
  /** Plain wildcard: every name goes here. */
  readonly fixed: Match | undefined;
  /** Template: VM name -> precomputed match. */
  readonly byVm: ReadonlyMap<string, Match> | undefined;
}

export interface RouteTable {
  readonly routes: readonly Route[];
  /** Resolves a raw Host header value (normalised here). */
  resolve(rawHost: string | null | undefined): Resolution;
  /** Resolves a host already passed through normalizeHost (null: there was none). */
  lookup(host: string | null): Resolution;
  /** Every upstream reachable through the table (pools are built for these). */
  readonly upstreams: readonly Upstream[];
  /**
   * The certificates the ssl routes need. A wildcard route needs its wildcard certificate, except a
   * letsencrypt template without a DNS hook: a CA issues wildcards only through DNS-01, so each VM's own
   * name gets an HTTP-01 certificate instead, and names no VM has are never sent to the CA.
   */
  readonly certTargets: readonly CertTarget[];
}

/** [a-z0-9_-]{1,63}, not starting or ending with '-'. A loop, not a regex: this runs per request. */
export function isDnsLabel(s: string): boolean {
  const n = s.length;
  if (n === 0 || n > 63 || s.charCodeAt(0) === 45 || s.charCodeAt(n - 1) === 45) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 95)) return false;
  }
  return true;
}

export function makeUpstream(protocol: 'http' | 'https', host: string, port: number, tls: UpstreamTls | null): Upstream {
  const hostPart = isIP(host) === 6 ? `[${host}]` : host;
  const origin = `${protocol}://${hostPart}:${port}`;
  const poolKey = tls ? `${origin}|${tls.insecureSkipVerify ? 'insecure' : 'verify'}|${tls.caFile ?? ''}|${tls.serverName ?? ''}` : origin;
  return Object.freeze({ protocol, host, port, origin, tls, poolKey });
}

function defaultPort(p: ProxyRule): number {
  return p.targetPort ?? (p.protocol === 'https' ? 443 : 80);
}

function tlsOf(p: ProxyRule): UpstreamTls | null {
  if (p.protocol !== 'https') return null;
  return Object.freeze({
    insecureSkipVerify: p.upstreamTls?.insecureSkipVerify ?? false,
    caFile: p.upstreamTls?.caFile,
    serverName: p.upstreamTls?.serverName,
  });
}

/** Builds the table from a validated config. Disabled proxies are left out (their domains answer 404). */
export function buildRouteTable(config: Pick<EdgeConfig, 'proxies' | 'vms'> & { readonly acme?: { readonly dnsHook?: string | undefined } | undefined }): RouteTable {
  const certTargets: CertTarget[] = [];
  const hasDnsHook = config.acme?.dnsHook !== undefined;
  const exact = new Map<string, Match>();
  const wildcard = new Map<string, WildcardEntry>();
  const routes: Route[] = [];
  const upstreamsByKey = new Map<string, Upstream>();
  const intern = (u: Upstream): Upstream => {
    const seen = upstreamsByKey.get(u.poolKey);
    if (seen) return seen;
    upstreamsByKey.set(u.poolKey, u);
    return u;
  };

  // VMs grouped by owner once, so each template reads only its owner's VMs.
  const vmsByOwner = new Map<string, EdgeConfig['vms'][number][]>();
  for (const vm of config.vms) {
    const list = vmsByOwner.get(vm.owner) ?? [];
    list.push(vm);
    vmsByOwner.set(vm.owner, list);
  }

  config.proxies.forEach((p, index) => {
    if (!p.enabled) return;
    const isWild = p.domain.startsWith('*.');
    const kind: RouteKind = !isWild ? 'exact' : p.owner !== undefined ? 'template' : 'wildcard';
    const route: Route = Object.freeze({
      domain: p.domain, index, kind, ssl: p.ssl, websocket: p.websocket, certSource: p.certSource,
      certFile: p.certFile, keyFile: p.keyFile, note: p.note, owner: p.owner,
    });
    routes.push(route);
    const perVm = kind === 'template' && p.certSource === 'letsencrypt' && !hasDnsHook;
    if (p.ssl && !perVm) {
      certTargets.push(Object.freeze({ name: p.domain, names: Object.freeze([p.domain]), source: p.certSource, index,
        ...(p.certFile !== undefined ? { certFile: p.certFile } : {}), ...(p.keyFile !== undefined ? { keyFile: p.keyFile } : {}) }));
    }
    const tls = tlsOf(p);
    if (kind === 'exact') {
      const upstream = intern(makeUpstream(p.protocol, p.target!, defaultPort(p), tls));
      exact.set(p.domain, Object.freeze({ ok: true as const, route, upstream, vm: undefined }));
      return;
    }
    const suffix = p.domain.slice(2);
    if (kind === 'wildcard') {
      const upstream = intern(makeUpstream(p.protocol, p.target!, defaultPort(p), tls));
      wildcard.set(suffix, Object.freeze({ route, fixed: Object.freeze({ ok: true as const, route, upstream, vm: undefined }), byVm: undefined }));
      return;
    }
    const byVm = new Map<string, Match>();
    for (const vm of vmsByOwner.get(p.owner!) ?? []) {
      const upstream = intern(makeUpstream(p.protocol, vm.ip, vm.port ?? defaultPort(p), tls));
      byVm.set(vm.name, Object.freeze({ ok: true as const, route, upstream, vm: vm.name }));
    }
    wildcard.set(suffix, Object.freeze({ route, fixed: undefined, byVm }));
    if (p.ssl && p.certSource === 'letsencrypt' && !hasDnsHook) {
      for (const vm of byVm.keys()) {
        // A VM name that is not a DNS label (upper case is folded already) cannot be in a certificate.
        if (isDnsLabel(vm)) certTargets.push(Object.freeze({ name: `${vm}.${suffix}`, names: Object.freeze([`${vm}.${suffix}`]), source: p.certSource, index }));
      }
    }
  });

  const lookup = (host: string | null): Resolution => {
    if (host === null) {
      return { ok: false, code: ErrorCodes.NO_HOST, host: '', route: undefined, message: 'the request has no Host header' };
    }
    const hit = exact.get(host);
    if (hit !== undefined) return hit;
    const parent = parentDomain(host);
    const w = parent === null ? undefined : wildcard.get(parent);
    if (w === undefined) {
      return { ok: false, code: ErrorCodes.NO_ROUTE, host, route: undefined, message: `no proxy is configured for ${host}` };
    }
    const name = firstLabel(host);
    // The label becomes part of redirects and VM lookups: only DNS label characters may stand there.
    if (!isDnsLabel(name)) {
      return { ok: false, code: ErrorCodes.NO_ROUTE, host, route: undefined, message: `no proxy is configured for ${host}` };
    }
    if (w.fixed !== undefined) return w.fixed;
    const m = w.byVm!.get(name);
    if (m !== undefined) return m;
    return { ok: false, code: ErrorCodes.NO_VM, host, route: w.route,
      message: `${w.route.owner} has no VM named "${name}" (template ${w.route.domain})` };
  };

  const resolve = (rawHost: string | null | undefined): Resolution => lookup(normalizeHost(rawHost));

  return Object.freeze({ routes: Object.freeze(routes), resolve, lookup, upstreams: Object.freeze([...upstreamsByKey.values()]),
    certTargets: Object.freeze(certTargets) });
}

