/**
 * The admin API's bearer token, kept in a file only the edge's user can read (0600). Made at the first
 * start when the file is missing, so a fresh install is never open; the token is never logged.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError, ErrorCodes } from '../errors.ts';
import { createFileExclusive } from '../storage/atomic.ts';

function invalid(file: string, message: string, cause?: unknown): ConfigError {
  return new ConfigError(ErrorCodes.CONFIG_INVALID, `admin.tokenFile: ${message}`,
    { issues: [{ path: 'admin.tokenFile', message }], cause });
}

/** Reads the token in `file` (surrounding white space dropped); ConfigError when it is unreadable or empty. */
export function readAdminToken(file: string): string {
  let token: string;
  try {
    token = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw invalid(file, `cannot read ${file}: ${(err as Error).message}`, err);
  }
  if (token.length < 16) throw invalid(file, `${file} holds no token (at least 16 characters are needed)`);
  return token;
}

/**
 * The token in `file`, made first (256 random bits, base64url, mode 0600) when the file does not exist.
 * `created` says which; `shared` is true when group or others may read the file (worth a warning).
 */
export async function ensureAdminToken(file: string): Promise<{ token: string; created: boolean; shared: boolean }> {
  mkdirSync(dirname(file), { recursive: true });
  // Linked into place complete: a second process starting at the same time reads the first one's token.
  const created = await createFileExclusive(file, `${randomBytes(32).toString('base64url')}\n`, 0o600);
  const token = readAdminToken(file);
  return { token, created, shared: (statSync(file).mode & 0o077) !== 0 };
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** true when `candidate` is the token. Both sides are hashed first, so the comparison is constant-time whatever the lengths. */
export function tokenMatches(candidate: string, token: string): boolean {
  return timingSafeEqual(digest(candidate), digest(token));
}

/** true when an Authorization header carries `Bearer <token>` (RFC 6750 2.1 for the header's form). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer +(\S+) *$/i.exec(header ?? '');
  return tokenMatches(m?.[1] ?? '', token) && m !== null;
}
