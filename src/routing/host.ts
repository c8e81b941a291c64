/**
 * Host normalisation, shared by HTTP routing and TLS SNI selection. Pure: no I/O.
 * RFC 9110 7.2: Host is `uri-host [":" port]`; names compare case-insensitively, and a trailing dot names
 * the same host (RFC 1034 3.1), so `App.Example.COM.:8443` routes like `app.example.com`.
 */

/** Returns the normalised host name (lower case, no port, no trailing dot), or null when there is none. */
export function normalizeHost(raw: string | undefined | null): string | null {
  if (!raw) return null;
  let h = raw;
  if (h.charCodeAt(0) === 91 /* [ */) {
    const end = h.indexOf(']');
    if (end < 0) return null;
    h = h.slice(1, end);
  } else {
    const colon = h.indexOf(':');
    // One colon: host:port. More than one: an unbracketed IPv6 literal (not valid in Host, kept as is).
    if (colon >= 0 && h.indexOf(':', colon + 1) < 0) h = h.slice(0, colon);
  }
  while (h.length > 0 && h.charCodeAt(h.length - 1) === 46 /* . */) h = h.slice(0, -1);
  if (h.length === 0) return null;
  return h.toLowerCase();
}

/** `a.b.example.com` -> `b.example.com`; null for a single label. The parent is what `*.` stands before. */
export function parentDomain(host: string): string | null {
  const dot = host.indexOf('.');
  return dot < 0 || dot === host.length - 1 ? null : host.slice(dot + 1);
}

/** `a.b.example.com` -> `a`: the label a wildcard template maps to a VM name. */
export function firstLabel(host: string): string {
  const dot = host.indexOf('.');
  return dot < 0 ? host : host.slice(0, dot);
}

/**
 * Looks a host up in an exact map, then in a map of wildcards keyed by the part after `*.`. A wildcard covers
 * exactly one label (RFC 6125 6.4.3), so at most one wildcard can match and the lookup is two map reads
 * whatever the number of routes.
 */
export function lookupExactThenWildcard<T>(host: string, exact: ReadonlyMap<string, T>, wildcard: ReadonlyMap<string, T>): T | undefined {
  const hit = exact.get(host);
  if (hit !== undefined) return hit;
  const parent = parentDomain(host);
  return parent === null ? undefined : wildcard.get(parent);
}
