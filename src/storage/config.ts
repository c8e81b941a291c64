/**
 * The `storage` section of the config: where the edge keeps certificates, keys, the ACME account, HTTP-01
 * tokens, renewal state and leases. `file` (the default) is today's store on `certs.dir`; `redis` is one
 * Redis that several edges share (a fleet). Mounted by config/schema.ts at the top-level key `storage`;
 * the whole section is restart-only (config/restart.ts): the storage is opened once per process.
 */
import { z } from 'zod';
import { resolvePathKeys } from '../config/paths.ts';

/** `redis://` or `rediss://` (TLS) with a host; a password in it is allowed (never logged). */
function isRedisUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'redis:' || u.protocol === 'rediss:') && u.hostname !== '';
  } catch {
    return false;
  }
}

export const storageConfigSchema = z.strictObject({
  type: z.enum(['file', 'redis'], { error: 'expected file or redis' }).default('file'),
  /** `redis://[user:password@]host:port/db`, or `rediss://` for TLS. */
  url: z.string({ error: 'expected a redis:// or rediss:// URL' })
    .refine(isRedisUrl, { error: 'expected a redis:// or rediss:// URL such as redis://127.0.0.1:6379/0' }).optional(),
  /** Prepended to every Redis key, so several fleets can share one Redis. */
  keyPrefix: z.string({ error: 'expected a key prefix such as idcs-edge:' })
    .regex(/^[A-Za-z0-9:._-]{1,64}$/, { error: 'expected 1-64 characters of A-Z a-z 0-9 : . _ -' }).default('idcs-edge:'),
  /** A file holding the Redis password (its first line); overrides a password in the URL. */
  passwordFile: z.string().min(1).optional(),
  /** A file holding a 32-byte key (64 hex digits or base64): private keys are stored AES-256-GCM encrypted. */
  encryptionKeyFile: z.string().min(1).optional(),
  /** Extra PEM CA trusted for a `rediss://` server with a private CA. */
  caFile: z.string().min(1).optional(),
  /**
   * How long a lease lives without a refresh (held ones are refreshed every third of it): how long an edge
   * that died keeps others from a name's issuance or the fleet's renewal scheduler.
   */
  leaseTtlMs: z.number({ error: 'expected a number of milliseconds' }).int({ error: 'expected a whole number of milliseconds' })
    .min(1000, { error: 'expected at least 1000 ms' }).max(600_000, { error: 'expected at most 600000 ms' }).default(30_000),
});

export type StorageConfig = z.output<typeof storageConfigSchema>;

/** Problems of the section that need more than one of its keys. */
export function storageIssues(s: StorageConfig): Array<{ path: string[]; message: string }> {
  const issues: Array<{ path: string[]; message: string }> = [];
  if (s.type === 'redis' && s.url === undefined) issues.push({ path: ['storage', 'url'], message: 'storage.type: redis needs url (redis://host:6379/0)' });
  if (s.type === 'file') {
    for (const key of ['url', 'passwordFile', 'encryptionKeyFile', 'caFile'] as const) {
      if (s[key] !== undefined) issues.push({ path: ['storage', key], message: `storage.${key} is only used with storage.type: redis` });
    }
  }
  return issues;
}

/** Relative file paths of the section resolved against `baseDir` (config/load.ts resolves the rest the same way). */
export function resolveStoragePaths(s: StorageConfig, baseDir: string): StorageConfig {
  return resolvePathKeys(s, ['passwordFile', 'encryptionKeyFile', 'caFile'], baseDir);
}
