/**
 * Dashboard sessions: an operator signs in with the admin token once, and the browser then holds a random
 * session ID in a cookie that is HttpOnly (page scripts cannot read it) and SameSite=Strict (no other site
 * can make the browser send it, RFC 6265bis 5.5.7.1). The token itself never sits in the browser. Sessions
 * live in the memory of the process serving the API: a restart signs everyone out. Bounded: at most
 * MAX_SESSIONS (the oldest go first), each for SESSION_TTL_MS after its last use.
 */
import { createHash, randomBytes } from 'node:crypto';

export const COOKIE = 'idcs_edge_session';
export const SESSION_TTL_MS = 12 * 3_600_000;
const MAX_SESSIONS = 1000;

export interface Sessions {
  /** A new session; returns the Set-Cookie value that carries it. */
  create(): string;
  /** true when the Cookie header carries a live session (its lifetime then starts again). */
  valid(cookieHeader: string | undefined): boolean;
  /** Ends the session the Cookie header carries; returns the Set-Cookie value that removes the cookie. */
  end(cookieHeader: string | undefined): string;
}

/** The value of cookie `name` in a Cookie header (RFC 6265 5.4), or null. */
export function cookieValue(header: string | undefined, name: string): string | null {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

// Kept by hash, so the map holds nothing a memory dump could replay; a lookup by the hash of a 256-bit
// random ID tells a timing observer nothing about other IDs.
const digest = (id: string) => createHash('sha256').update(id).digest('hex');

export function createSessions(now: () => number = Date.now): Sessions {
  const live = new Map<string, { expires: number }>();
  const attrs = 'Path=/; HttpOnly; SameSite=Strict';
  const find = (header: string | undefined) => {
    const id = cookieValue(header, COOKIE);
    if (id === null || !/^[A-Za-z0-9_-]{43}$/.test(id)) return null;
    const key = digest(id);
    const s = live.get(key);
    return s ? { key, s } : null;
  };
  return {
    create() {
      const id = randomBytes(32).toString('base64url');
      for (const [k, s] of live) if (s.expires <= now()) live.delete(k);
      while (live.size >= MAX_SESSIONS) live.delete(live.keys().next().value!);
      live.set(digest(id), { expires: now() + SESSION_TTL_MS });
      return `${COOKIE}=${id}; ${attrs}; Max-Age=${SESSION_TTL_MS / 1000}`;
    },
    valid(header) {
      const f = find(header);
      if (!f) return false;
      if (f.s.expires <= now()) { live.delete(f.key); return false; }
      f.s.expires = now() + SESSION_TTL_MS;
      return true;
    },
    end(header) {
      const f = find(header);
      if (f) live.delete(f.key);
      return `${COOKIE}=; ${attrs}; Max-Age=0`;
    },
  };
}
