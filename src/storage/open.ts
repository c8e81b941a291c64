/**
 * The one place that decides which storage a process uses for a config: the file storage on `certs.dir`
 * (HTTP-01 tokens in the challenge folder), or with `storage.type: redis` the Redis one, which a running
 * edge wraps with its local copy on `certs.dir` (cached.ts). One per process, built by the composition
 * roots (main.ts, cluster/primary.ts, cli.ts) and closed last.
 */
import { readFileSync } from 'node:fs';
import { challengeDirFor, defaultAcmeConfig } from '../acme/config.ts';
import type { EdgeConfig } from '../config/schema.ts';
import { ErrorCodes, StorageError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { withLocalCopy } from './cached.ts';
import type { StorageConfig } from './config.ts';
import type { Storage } from './contract.ts';
import { createFileStorage } from './file.ts';
import { createRedisStorage, type SharedStorage } from './redis.ts';

/** The file storage of `config` (also the local copy of a Redis-backed edge). */
export function storageFor(config: Pick<EdgeConfig, 'certs' | 'acme'> & { storage?: Pick<StorageConfig, 'leaseTtlMs'> }, log: Logger): Storage {
  return createFileStorage({ dir: config.certs.dir, challengeDir: challengeDirFor(config.acme ?? defaultAcmeConfig, config.certs.dir), log,
    ...(config.storage ? { leaseTtlMs: config.storage.leaseTtlMs } : {}) });
}

function readSecretFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new StorageError(ErrorCodes.STORAGE, '', `cannot read ${what} ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** The 32-byte key of `storage.encryptionKeyFile`: 64 hex digits or base64 (`openssl rand -base64 32`). */
export function readEncryptionKey(path: string): Buffer {
  const text = readSecretFile(path, 'storage.encryptionKeyFile').trim();
  const key = /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
  if (key.length !== 32) {
    throw new StorageError(ErrorCodes.STORAGE, '', `storage.encryptionKeyFile ${path} must hold a 32-byte key as 64 hex digits or base64 (openssl rand -base64 32), not ${key.length} bytes`);
  }
  return key;
}

export interface OpenOptions {
  /**
   * `local-copy` (a running edge): keep the local copy on certs.dir and start even when Redis cannot be
   * reached; `fail` (the CLI): reject when it cannot be reached.
   */
  readonly unreachable: 'local-copy' | 'fail';
}

/** Opens the storage `config.storage` names; rejects with StorageError EDGE_ERR_STORAGE when it cannot. */
export async function openStorage(config: EdgeConfig, log: Logger, opts: OpenOptions = { unreachable: 'fail' }): Promise<Storage | SharedStorage> {
  const s = config.storage;
  if (s.type === 'file') return storageFor(config, log);
  const shared = await createRedisStorage({
    url: s.url!, keyPrefix: s.keyPrefix, log, leaseTtlMs: s.leaseTtlMs,
    ...(s.passwordFile ? { password: readSecretFile(s.passwordFile, 'storage.passwordFile').split(/\r?\n/)[0] } : {}),
    ...(s.encryptionKeyFile ? { encryptionKey: readEncryptionKey(s.encryptionKeyFile) } : {}),
    ...(s.caFile ? { caPem: readSecretFile(s.caFile, 'storage.caFile') } : {}),
    requireConnection: opts.unreachable === 'fail',
  });
  return opts.unreachable === 'local-copy' ? withLocalCopy(shared, storageFor(config, log), log) : shared;
}

/** The storage's connection state when it has one (Redis), else null (the file storage is always there). */
export function sharedOf(storage: Storage): SharedStorage | null {
  return 'connected' in storage && 'putIfTag' in storage ? storage as SharedStorage : null;
}
