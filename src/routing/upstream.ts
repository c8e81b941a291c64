/**
 * Upstreams: one VM service as the edge talks to it (scheme, address, port, TLS verification, timeouts and
 * pool limits). Built when a config is applied and shared by every route that reaches the same service, so
 * they share one connection pool. Pure.
 */
import { isIP } from 'node:net';
import type { EdgeConfig, ProxyRule } from '../config/schema.ts';

export interface UpstreamTls {
  readonly insecureSkipVerify: boolean;
  readonly caFile: string | undefined;
  readonly serverName: string | undefined;
}

export type UpstreamSettings = EdgeConfig['upstream'];

/** Where a route sends traffic: one VM service. */
export interface Upstream {
  readonly protocol: 'http' | 'https';
  readonly host: string;
  readonly port: number;
  /** `http://10.0.0.5:80`: what logs name (never a public page). */
  readonly origin: string;
  readonly tls: UpstreamTls | null;
  readonly timeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly maxSockets: number;
  readonly maxIdleSockets: number;
  /** Identity of the connection pool: same key, same keep-alive agent across reloads. */
  readonly poolKey: string;
}

export function makeUpstream(protocol: 'http' | 'https', host: string, port: number, tls: UpstreamTls | null,
  s: UpstreamSettings): Upstream {
  const hostPart = isIP(host) === 6 ? `[${host}]` : host;
  const origin = `${protocol}://${hostPart}:${port}`;
  const tlsKey = tls ? `|${tls.insecureSkipVerify ? 'insecure' : 'verify'}|${tls.caFile ?? ''}|${tls.serverName ?? ''}` : '';
  // Pool limits and the connect deadline (an option of the pool's connector) are part of the pool's
  // identity: a changed one gets a new pool, the old one drains.
  const poolKey = `${origin}${tlsKey}|${s.maxSocketsPerTarget}/${s.maxIdleSocketsPerTarget}|${s.connectTimeoutMs}`;
  return Object.freeze({ protocol, host, port, origin, tls, timeoutMs: s.timeoutMs, connectTimeoutMs: s.connectTimeoutMs,
    maxSockets: s.maxSocketsPerTarget, maxIdleSockets: s.maxIdleSocketsPerTarget, poolKey });
}

/** The VM port a proxy reaches when neither it nor the VM names one. */
export function defaultPort(p: Pick<ProxyRule, 'targetPort' | 'protocol'>): number {
  return p.targetPort ?? (p.protocol === 'https' ? 443 : 80);
}

export function upstreamTlsOf(p: ProxyRule): UpstreamTls | null {
  if (p.protocol !== 'https') return null;
  return Object.freeze({
    insecureSkipVerify: p.upstreamTls?.insecureSkipVerify ?? false,
    caFile: p.upstreamTls?.caFile,
    serverName: p.upstreamTls?.serverName,
  });
}

/** Interns upstreams by pool key, so equal services are one object (and one pool). */
export function upstreamInterner(): { intern(u: Upstream): Upstream; all(): readonly Upstream[] } {
  const byKey = new Map<string, Upstream>();
  return {
    intern(u) {
      const seen = byKey.get(u.poolKey);
      if (seen) return seen;
      byKey.set(u.poolKey, u);
      return u;
    },
    all: () => Object.freeze([...byKey.values()]),
  };
}
