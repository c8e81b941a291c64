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

/**
 * The normalised host of a request's Host header (RFC 9110 7.2, RFC 3986 3.2.2), or null when the value is
 * not `host[:port]`: a port outside 1-65535 or with non-digits, an empty port, characters no host name or
 * IP literal has (spaces, `/`, `@`), or an unclosed IPv6 bracket. A loop over char codes: runs per request.
 */
export function parseHostHeader(raw: string): string | null {
  let end = raw.length;
  if (raw.charCodeAt(0) === 91 /* [ */) {
    const close = raw.indexOf(']');
    if (close < 0) return null;
    for (let i = 1; i < close; i++) {
      const c = raw.charCodeAt(i);
      // hex digits, ':' and '.' (an embedded IPv4); zone IDs are not allowed in a Host header (RFC 6874 1)
      if (!((c >= 48 && c <= 58) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70) || c === 46)) return null;
    }
    if (close + 1 < raw.length && raw.charCodeAt(close + 1) !== 58) return null;
    if (close + 1 < raw.length && !validPort(raw, close + 2)) return null;
    return close > 1 ? raw.slice(1, close).toLowerCase() : null;
  }
  const colon = raw.indexOf(':');
  if (colon >= 0) {
    if (!validPort(raw, colon + 1)) return null;
    end = colon;
  }
  for (let i = 0; i < end; i++) {
    const c = raw.charCodeAt(i);
    if (!((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 95)) return null;
  }
  while (end > 0 && raw.charCodeAt(end - 1) === 46 /* . */) end--;
  return end === 0 ? null : raw.slice(0, end).toLowerCase();
}

/** 1-5 digits from `from` to the end of `s`, value 1-65535. */
function validPort(s: string, from: number): boolean {
  const n = s.length - from;
  if (n < 1 || n > 5) return false;
  let v = 0;
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
    v = v * 10 + (c - 48);
  }
  return v >= 1 && v <= 65535;
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

/** true for a DNS name we can route by (lower case, no trailing dot, no port). */
export function isValidHostname(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  return name.split('.').every(isDnsLabel);
}

/** `a.b.example.com` -> `b.example.com`; null for a single label. The parent is what `*.` stands before. */
export function parentDomain(host: string): string | null {
  const dot = host.indexOf('.');
  return dot < 0 || dot === host.length - 1 ? null : host.slice(dot + 1);
}

/** `a.b.example.com` -> `*.b.example.com`: the one wildcard name that covers a host; null for a single label. */
export function wildcardNameFor(host: string): string | null {
  const parent = parentDomain(host);
  return parent === null ? null : `*.${parent}`;
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
