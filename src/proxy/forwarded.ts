/**
 * Forwarding headers (X-Forwarded-For/-Proto/-Host/-Port and RFC 7239 `Forwarded`).
 * Values a client sent are believed only when the peer that connected to us is a configured trusted proxy;
 * otherwise they are dropped and replaced, never appended to, so a client cannot forge its address.
 */
import { BlockList, isIPv4 } from 'node:net';
import { parseCidrOrNull } from '../config/schema.ts';

export interface TrustedProxies {
  isTrusted(peer: string | undefined): boolean;
}

/** Compiles the `trustedProxies` CIDR list once, at config load. */
export function compileTrustedProxies(cidrs: readonly string[]): TrustedProxies {
  if (cidrs.length === 0) return { isTrusted: () => false };
  const list = new BlockList();
  for (const c of cidrs) {
    const p = parseCidrOrNull(c);
    if (p) list.addSubnet(p.address, p.prefix, p.family === 4 ? 'ipv4' : 'ipv6');
  }
  return {
    isTrusted(peer) {
      if (!peer) return false;
      // IPv4 clients on a dual-stack socket appear as ::ffff:a.b.c.d.
      const v4 = peer.startsWith('::ffff:') && isIPv4(peer.slice(7)) ? peer.slice(7) : null;
      if (v4 !== null) return list.check(v4, 'ipv4');
      return list.check(peer, isIPv4(peer) ? 'ipv4' : 'ipv6');
    },
  };
}

export interface ForwardFacts {
  /** Address of the TCP peer. */
  readonly peer: string;
  readonly trusted: boolean;
  readonly proto: 'http' | 'https';
  /** The Host header as received (with port, if any). */
  readonly host: string;
  /** The port the client connected to. */
  readonly port: number;
}

type Headers = Record<string, string | string[] | undefined>;

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

/** RFC 7239 4: IPv6 addresses are bracketed and quoted, as is anything with a colon. */
function forwardedNode(ip: string): string {
  const bare = ip.startsWith('::ffff:') && isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
  return bare.includes(':') ? `"[${bare}]"` : bare;
}

function quoteIfNeeded(v: string): string {
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(v) ? v : `"${v.replace(/["\\]/g, '\\$&')}"`;
}

/**
 * Sets the forwarding headers on a request's header object in place. The edge's own view (peer address,
 * scheme, Host, port) is always added; what came before it survives only from a trusted peer.
 */
export function applyForwardingHeaders(h: Headers, f: ForwardFacts): void {
  const peer = f.peer.startsWith('::ffff:') && isIPv4(f.peer.slice(7)) ? f.peer.slice(7) : f.peer;
  const priorFor = f.trusted ? first(h['x-forwarded-for']) : undefined;
  h['x-forwarded-for'] = priorFor ? `${priorFor}, ${peer}` : peer;
  const xfProto = f.trusted ? first(h['x-forwarded-proto']) : undefined;
  const xfHost = f.trusted ? first(h['x-forwarded-host']) : undefined;
  const xfPort = f.trusted ? first(h['x-forwarded-port']) : undefined;
  h['x-forwarded-proto'] = xfProto ?? f.proto;
  h['x-forwarded-host'] = xfHost ?? f.host;
  h['x-forwarded-port'] = xfPort ?? String(f.port);
  const priorFwd = f.trusted ? first(h['forwarded']) : undefined;
  const mine = `for=${forwardedNode(peer)};host=${quoteIfNeeded(f.host)};proto=${f.proto}`;
  h['forwarded'] = priorFwd ? `${priorFwd}, ${mine}` : mine;
  if (!f.trusted && h['x-real-ip'] !== undefined) delete h['x-real-ip'];
}
