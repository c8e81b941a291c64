/**
 * The one per-request context: computed once when a request (or upgrade) arrives, read by every step of the
 * pipeline, and handed whole to the "request finished" event that the access log (and metrics) subscribe
 * to. The live state is read once into it, so a reload mid-request never mixes two configs.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Failure } from '../errors.ts';
import type { Coding } from './compression.ts';
import type { Policies } from '../policy/policies.ts';
import type { Caps } from '../policy/throttle.ts';
import type { Match, RouteTable, Route } from '../routing/table.ts';
import type { TrustedProxies } from './forwarded.ts';
import type { PageDetail } from './pages.ts';
import type { UpstreamRequest } from './exchange.ts';

/** Everything a request needs that changes on reload, swapped as one object by the apply pipeline. */
export interface LiveState {
  readonly table: RouteTable;
  readonly trusted: TrustedProxies;
  /** Access rules, basic auth and bandwidth caps of the same config as the table. */
  readonly policies: Policies;
  /** Port that HTTPS redirects point to; 0 when HTTPS is off (no redirects then). */
  readonly httpsPort: number;
  readonly pages: {
    readonly detail: PageDetail;
    /** A proxy's own page for a status, read from its file when the config was applied. */
    custom(route: Route | undefined, status: number): string | undefined;
  };
}

export interface RequestContext {
  readonly id: string;
  readonly req: IncomingMessage;
  /** null for upgrades, which are answered on the raw socket. */
  readonly res: ServerResponse | null;
  /** The client's connection (for upgrades: the socket handed over by node:http). */
  readonly socket: Duplex;
  readonly upgrade: boolean;
  /** The request came over HTTP/2 (h2.ts adapts its request and response to node:http's shape). */
  readonly h2: boolean;
  readonly encrypted: boolean;
  /** performance.now() when the request arrived. */
  readonly started: number;
  readonly state: LiveState;
  /** The TCP peer (IPv4-mapped IPv6 unwrapped). */
  readonly peer: string;
  /** The peer is one of `trustedProxies`: its forwarding headers are believed. */
  readonly trusted: boolean;
  /** The client's address: the peer, or the first untrusted address in X-Forwarded-For from a trusted peer. */
  readonly client: string;
  /** The normalised Host ('' until routed, or when there is none). */
  host: string;
  match: Match | null;
  /** The bandwidth caps of the route and its VM, once routed (null: uncapped). */
  caps: Caps | null;
  /** The content coding the answer gets if it qualifies (compression.ts); null: sent as the VM sent it. */
  encoding: Coding | null;
  /** The Strict-Transport-Security value added to the answer (HTTPS only), or null. */
  hsts: string | null;
  /** Upgrades: the bytes node:http read past the handshake, handed to the VM with it. */
  upgradeHead: Buffer | null;
  /** The request to the VM, once sent (destroyed when the client goes away). */
  upstreamReq: UpstreamRequest | null;
  /** What made the edge answer instead of the VM, or what failed while talking to it. */
  failure: Failure | null;
  /** Filled in when the request finishes. */
  status: number;
  /** The client left before the response was complete. */
  aborted: boolean;
  durationMs: number;
  /**
   * Bytes read from / written to the client's connection for this request: everything since the previous
   * request on the connection finished (so its request line and headers too), after TLS decryption. Over
   * HTTP/2 the rule is the same per connection: its requests add up to its bytes, but one request's share
   * also holds what the requests running beside it moved.
   */
  bytesIn: number;
  bytesOut: number;
}

/** A subscriber to "request finished"; called once per request with the settled context. */
export type FinishedListener = (ctx: RequestContext) => void;

/**
 * A subscriber to the bytes an upgraded (WebSocket) connection moved after its handshake, counted on the
 * client's socket as requests are: reported when the pair closes, and while it stays open whenever the
 * registry is swept (upgrades.ts), so long-lived connections count before they end.
 */
export type UpgradeBytesListener = (match: Match, bytesIn: number, bytesOut: number) => void;

export interface RequestEvents {
  onFinished(fn: FinishedListener): () => void;
  /** true when someone listens (steps skip bookkeeping nobody reads). */
  readonly active: boolean;
  emitFinished(ctx: RequestContext): void;
  onUpgradeBytes(fn: UpgradeBytesListener): () => void;
  emitUpgradeBytes(match: Match, bytesIn: number, bytesOut: number): void;
}

/** A tiny typed event: an array of listeners, cheaper per request than an EventEmitter. */
export function createRequestEvents(onListenerError: (err: unknown) => void): RequestEvents {
  let listeners: FinishedListener[] = [];
  let byteListeners: UpgradeBytesListener[] = [];
  return {
    onFinished(fn) {
      listeners = [...listeners, fn];
      return () => { listeners = listeners.filter((l) => l !== fn); };
    },
    get active() { return listeners.length > 0; },
    emitFinished(ctx) {
      for (const l of listeners) {
        try { l(ctx); } catch (err) { onListenerError(err); }
      }
    },
    onUpgradeBytes(fn) {
      byteListeners = [...byteListeners, fn];
      return () => { byteListeners = byteListeners.filter((l) => l !== fn); };
    },
    emitUpgradeBytes(match, bytesIn, bytesOut) {
      for (const l of byteListeners) {
        try { l(match, bytesIn, bytesOut); } catch (err) { onListenerError(err); }
      }
    },
  };
}
