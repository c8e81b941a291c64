/**
 * HTTP basic auth for a proxy (RFC 7617): `auth.users` with password hashes (password.ts). A hash check is
 * deliberately slow (tens of ms), so a credential that passed is remembered for the life of the config,
 * keyed by an HMAC of the header under a key of this process (the password itself is never kept), and the
 * checks in progress are bounded: a flood of wrong passwords costs at most `maxConcurrent` hash
 * computations at a time, and beyond `maxQueued` waiting ones it is refused at once. A user name that is not
 * in the list costs the same hash work as a wrong password, so the answer time does not tell which it was.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { parsePasswordHash, verifyPassword, type PasswordHash } from './password.ts';

export interface BasicAuthUser {
  readonly name: string;
  readonly hash: string;
}

export interface BasicAuth {
  /** true when `authorization` is `Basic <user:password>` of a listed user; a Promise while a hash is checked. */
  check(authorization: string | undefined): boolean | Promise<boolean>;
}

export interface BasicAuthOptions {
  readonly maxConcurrent?: number;
  readonly maxQueued?: number;
  /** Credentials remembered as verified (oldest forgotten first). */
  readonly cacheSize?: number;
}

const BASIC = /^basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i;

/** user and password of a Basic header; null when it is not one. */
export function parseBasic(authorization: string | undefined): { user: string; password: string } | null {
  const m = authorization === undefined ? null : BASIC.exec(authorization);
  if (!m) return null;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon < 0 ? null : { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** Builds the checker of one proxy's users (hashes are validated by the schema; an unreadable one never matches). */
export function createBasicAuth(users: readonly BasicAuthUser[], opts: BasicAuthOptions = {}): BasicAuth {
  const maxConcurrent = opts.maxConcurrent ?? 2;
  const maxQueued = opts.maxQueued ?? 64;
  const cacheSize = opts.cacheSize ?? 1000;
  const byName = new Map<string, PasswordHash>();
  for (const u of users) {
    const h = parsePasswordHash(u.hash);
    if (h) byName.set(u.name, h);
  }
  const decoy = byName.values().next().value;
  const key = randomBytes(32);
  const verified = new Map<string, true>();
  let running = 0;
  const queue: Array<() => void> = [];

  const slot = (): Promise<void> | null => {
    if (running < maxConcurrent) {
      running++;
      return Promise.resolve();
    }
    if (queue.length >= maxQueued) return null;
    return new Promise((resolve) => queue.push(() => { running++; resolve(); }));
  };
  const release = () => {
    running--;
    queue.shift()?.();
  };

  const verify = async (id: string, user: string, password: string): Promise<boolean> => {
    const wait = slot();
    if (wait === null) return false;
    await wait;
    try {
      const hash = byName.get(user);
      if (!hash) {
        if (decoy) await verifyPassword(password, decoy);
        return false;
      }
      const ok = await verifyPassword(password, hash);
      if (ok) {
        verified.set(id, true);
        if (verified.size > cacheSize) verified.delete(verified.keys().next().value!);
      }
      return ok;
    } catch {
      return false;
    } finally {
      release();
    }
  };

  return {
    check(authorization) {
      const creds = parseBasic(authorization);
      if (!creds) return false;
      const id = createHmac('sha256', key).update(authorization!).digest('base64');
      if (verified.has(id)) return true;
      return verify(id, creds.user, creds.password);
    },
  };
}
