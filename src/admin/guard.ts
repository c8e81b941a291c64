/**
 * Who may talk to the admin API, decided before a body is read. A Host that is not the listener's own
 * address (or an `admin.allowedHosts` entry) is refused: a page on another site that gets its name
 * re-pointed at 127.0.0.1 (DNS rebinding) still sends its own name. A browser write from another origin
 * is refused too (Origin, RFC 6454; Sec-Fetch-Site, Fetch Metadata), on top of the bearer token.
 */
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { EdgeError, ErrorCodes } from '../errors.ts';
import { parseHostHeader } from '../routing/host.ts';
import type { AdminAddress } from './config.ts';

/** `host` and `port` of a Host header value (`[::1]:8081` -> `::1`, 8081); null when it is not `host[:port]`. */
export function splitHost(raw: string): { host: string; port: number | null } | null {
  const host = parseHostHeader(raw);
  if (host === null) return null;
  const m = /:(\d+)$/.exec(raw);
  const bracketed = raw.startsWith('[');
  return { host, port: m && (!bracketed || raw.lastIndexOf(']') < m.index) ? Number(m[1]) : null };
}

/** The host names the listener answers to by itself: its address, and this machine's addresses when it listens on all. */
function ownNames(at: AdminAddress): Set<string> {
  const names = new Set(['localhost']);
  if (at.kind === 'unix') return names;
  names.add(at.host);
  if (at.host === '0.0.0.0' || at.host === '::') {
    for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) names.add(i.address.toLowerCase());
  }
  return names;
}

export interface Guard {
  /** Why this request is refused (EDGE_ERR_ADMIN_FORBIDDEN), or null. `write`: the method changes something. */
  refusal(headers: Record<string, string | string[] | undefined>, write: boolean): EdgeError | null;
}

/** `at` is the bound address (its real port when 0 was asked for); `allowed` the admin.allowedHosts entries. */
export function createGuard(at: AdminAddress, allowed: readonly string[]): Guard {
  const names = ownNames(at);
  const port = at.kind === 'tcp' ? at.port : null;
  const extra = allowed.map((a) => splitHost(a)).filter((a) => a !== null);
  const hostOk = (raw: string): boolean => {
    const h = splitHost(raw);
    if (h === null) return false;
    if (extra.some((a) => a.host === h.host && (a.port === null || a.port === h.port))) return true;
    if (!names.has(h.host)) return false;
    // A unix socket has no port to name; a TCP listener is named with its port (none means 80).
    return port === null || (h.port ?? 80) === port;
  };
  const forbidden = (message: string) => new EdgeError(ErrorCodes.ADMIN_FORBIDDEN, message);
  return {
    refusal(headers, write) {
      const host = headers.host;
      if (typeof host !== 'string' || !hostOk(host)) {
        return forbidden(`Host ${JSON.stringify(host ?? '')} is not this admin listener (add it to admin.allowedHosts if a proxy in front uses it)`);
      }
      if (!write) return null;
      const site = headers['sec-fetch-site'];
      if (typeof site === 'string' && site !== 'same-origin' && site !== 'none') return forbidden(`a browser write from another site (Sec-Fetch-Site: ${site}) is refused`);
      const origin = headers.origin;
      if (typeof origin === 'string') {
        let originHost: string | null = null;
        try { originHost = new URL(origin).host; } catch { /* "null" or garbage: refused below */ }
        if (originHost === null || originHost.toLowerCase() !== host.toLowerCase()) return forbidden(`a browser write from ${origin} is refused`);
      }
      return null;
    },
  };
}

/** The address clients use to reach a listener bound to `host` (a wildcard address is reached on loopback). */
export function dialHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}

/** `http://127.0.0.1:8081`, `http://[::1]:8081` or `unix:/path`: how logs and status name a listener. */
export function addressText(at: AdminAddress): string {
  if (at.kind === 'unix') return `unix:${at.path}`;
  return `http://${isIP(at.host) === 6 ? `[${at.host}]` : at.host}:${at.port}`;
}
