/**
 * Forwarding headers (X-Forwarded-For/-Proto/-Host/-Port and RFC 7239 `Forwarded`).
 * Values a client sent are believed only when the peer that connected to us is a configured trusted proxy;
 * otherwise they are dropped and replaced, never appended to, so a client cannot forge its address.
 */
import { BlockList, isIP, isIPv4 } from 'node:net';
import { parseCidrOrNull, unmapV4 } from '../policy/cidr.ts';

export { unmapV4 };

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
      const ip = unmapV4(peer);
      return list.check(ip, isIPv4(ip) ? 'ipv4' : 'ipv6');
    },
  };
}

/**
 * The client's address as access rules and logs should see it: the peer itself, unless the peer is a trusted
 * proxy; then X-Forwarded-For is read from the right, skipping trusted proxies, and the first address that is
 * not one is the client (what nginx's real_ip_recursive and Traefik's depth-less strategy do). A value that
 * is not an IP ends the walk at the last trusted hop: nothing a client wrote can pose as an address.
 */
export function clientAddress(peer: string, xff: string | string[] | undefined, trusted: TrustedProxies): string {
  if (xff === undefined) return peer;
  const hops = (Array.isArray(xff) ? xff.join(',') : xff).split(',');
  let last = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = unmapV4(hops[i]!.trim());
    if (hop === '') continue;
    if (isIP(hop) === 0) return last;
    if (!trusted.isTrusted(hop)) return hop;
    last = hop;
  }
  return last;
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
  return ip.includes(':') ? `"[${ip}]"` : ip;
}

function quoteIfNeeded(v: string): string {
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(v) ? v : `"${v.replace(/["\\]/g, '\\$&')}"`;
}

/**
 * Sets the forwarding headers on a request's header object in place. The edge's own view (peer address,
 * scheme, Host, port) is always added; what came before it survives only from a trusted peer.
 */
export function applyForwardingHeaders(h: Headers, f: ForwardFacts): void {
  const peer = unmapV4(f.peer);
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
