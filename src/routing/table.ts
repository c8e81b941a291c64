/**
 * The immutable route table: built once per config (off the hot path), swapped whole on reload.
 * Pure: plain data in, plain data out; every per-request answer is precomputed so that a lookup is at
 * most three map reads and allocates nothing on success.
 */
import type { CertSource, EdgeConfig, ProxyRule, VmEntry } from '../config/schema.ts';
import { ErrorCodes } from '../errors.ts';
import { hstsHeaderOf } from '../proxy/hsts.ts';
import { certTargetsOf, type CertTarget } from './cert-targets.ts';
import { firstLabel, isDnsLabel, lookupExactThenWildcard, normalizeHost } from './host.ts';
import { buildInventory, vmKeyOf, type Inventory } from './inventory.ts';
import { defaultPort, makeUpstream, upstreamInterner, upstreamTlsOf, type Upstream } from './upstream.ts';

export type { CertTarget } from './cert-targets.ts';
export type { Upstream, UpstreamTls } from './upstream.ts';

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
  /** HTTP/2 is offered to clients of this domain (ALPN is chosen per SNI name). */
  readonly http2: boolean;
  /** Text responses may be compressed for clients that ask. */
  readonly compression: boolean;
  /** The Strict-Transport-Security value sent over HTTPS, or null (see proxy/hsts.ts). */
  readonly hsts: string | null;
}

export interface Match {
  readonly ok: true;
  readonly route: Route;
  readonly upstream: Upstream;
  /** The VM name for template routes. */
  readonly vm: string | undefined;
  /** `owner/name` of the inventory VM this match reaches (a template's VM, or the one VM with the target's address). */
  readonly vmKey: string | undefined;
}

export interface Miss {
  readonly ok: false;
  readonly code: typeof ErrorCodes.NO_HOST | typeof ErrorCodes.NO_ROUTE | typeof ErrorCodes.NO_VM;
  readonly host: string;
  readonly route: Route | undefined;
  /** For the operator's log line (may name the owner); the public page never shows it. */
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
  readonly inventory: Inventory;
  /** Resolves a raw Host header value (normalised here). */
  resolve(rawHost: string | null | undefined): Resolution;
  /** Resolves a host already normalised (null: there was none). */
  lookup(host: string | null): Resolution;
  /** Every upstream reachable through the table (pools are built for these). */
  readonly upstreams: readonly Upstream[];
  /** The certificates the ssl routes need (see cert-targets.ts). */
  readonly certTargets: readonly CertTarget[];
  /** Whether a TLS client that names `servername` (SNI) may get HTTP/2: not when its proxy says `http2: false`. */
  allowsHttp2(servername: string | undefined): boolean;
}

export type RouteTableInput = Pick<EdgeConfig, 'proxies' | 'vms' | 'upstream'>
  & { readonly acme?: { readonly dnsHook?: string | undefined } | undefined };

function routeOf(p: ProxyRule, index: number): Route {
  const kind: RouteKind = !p.domain.startsWith('*.') ? 'exact' : p.owner !== undefined ? 'template' : 'wildcard';
  return Object.freeze({ domain: p.domain, index, kind, ssl: p.ssl, websocket: p.websocket, certSource: p.certSource,
    certFile: p.certFile, keyFile: p.keyFile, note: p.note, owner: p.owner, http2: p.http2, compression: p.compression, hsts: hstsHeaderOf(p) });
}

const match = (route: Route, upstream: Upstream, vm: VmEntry | undefined): Match => Object.freeze({ ok: true as const, route, upstream,
  vm: route.kind === 'template' ? vm?.name : undefined, vmKey: vm ? vmKeyOf(vm) : undefined });

/** Builds the table from a validated config. Disabled proxies are left out (their domains answer 404). */
export function buildRouteTable(config: RouteTableInput): RouteTable {
  const inventory = buildInventory(config.vms);
  const hasDnsHook = config.acme?.dnsHook !== undefined;
  // One lookup (exact, then the one-label wildcard) over both maps, shared with SNI selection.
  const exact = new Map<string, Match | WildcardEntry>();
  const wildcard = new Map<string, Match | WildcardEntry>();
  const routes: Route[] = [];
  const certTargets: CertTarget[] = [];
  const upstreams = upstreamInterner();
  const upstreamTo = (p: ProxyRule, host: string, port: number) =>
    upstreams.intern(makeUpstream(p.protocol, host, port, upstreamTlsOf(p), config.upstream));

  config.proxies.forEach((p, index) => {
    if (!p.enabled) return;
    const route = routeOf(p, index);
    routes.push(route);
    certTargets.push(...certTargetsOf(p, index, inventory, hasDnsHook));
    if (route.kind === 'exact') {
      exact.set(p.domain, match(route, upstreamTo(p, p.target!, defaultPort(p)), inventory.byAddress(p.target!)));
    } else if (route.kind === 'wildcard') {
      wildcard.set(p.domain.slice(2), Object.freeze({ route, fixed: match(route, upstreamTo(p, p.target!, defaultPort(p)), inventory.byAddress(p.target!)), byVm: undefined }));
    } else {
      const byVm = new Map<string, Match>();
      for (const vm of inventory.vmsOf(p.owner!).values()) byVm.set(vm.name, match(route, upstreamTo(p, vm.ip, vm.port ?? defaultPort(p)), vm));
      wildcard.set(p.domain.slice(2), Object.freeze({ route, fixed: undefined, byVm }));
    }
  });

  const lookup = (host: string | null): Resolution => {
    if (host === null) {
      return { ok: false, code: ErrorCodes.NO_HOST, host: '', route: undefined, message: 'the request has no Host header' };
    }
    const hit = lookupExactThenWildcard(host, exact, wildcard);
    if (hit !== undefined && 'ok' in hit) return hit;
    // The label becomes part of redirects and VM lookups: only DNS label characters may stand there.
    if (hit === undefined || !isDnsLabel(firstLabel(host))) {
      return { ok: false, code: ErrorCodes.NO_ROUTE, host, route: undefined, message: `no proxy is configured for ${host}` };
    }
    const w = hit;
    if (w.fixed !== undefined) return w.fixed;
    const name = firstLabel(host);
    const m = w.byVm!.get(name);
    if (m !== undefined) return m;
    return { ok: false, code: ErrorCodes.NO_VM, host, route: w.route,
      message: `${w.route.owner} has no VM named "${name}" (template ${w.route.domain})` };
  };

  // Asked once per TLS handshake; a config where every proxy allows HTTP/2 does not even look the name up.
  const allowsHttp2 = routes.every((r) => r.http2) ? () => true : (servername: string | undefined) => {
    const host = normalizeHost(servername);
    if (host === null) return true;
    const r = lookup(host);
    return r.ok ? r.route.http2 : r.route?.http2 ?? true;
  };

  return Object.freeze({ routes: Object.freeze(routes), inventory, lookup, allowsHttp2,
    resolve: (rawHost: string | null | undefined) => lookup(normalizeHost(rawHost)),
    upstreams: upstreams.all(), certTargets: Object.freeze(certTargets) });
}
