/**
 * The one place that decides which storage a process uses for a config: today the file storage on
 * `certs.dir` with HTTP-01 tokens in the challenge folder. One per process, built by the composition roots
 * (main.ts, cluster.ts, cli.ts) and closed last.
 */
import { challengeDirFor, defaultAcmeConfig } from '../acme/config.ts';
import type { EdgeConfig } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import type { Storage } from './contract.ts';
import { createFileStorage } from './file.ts';

export function storageFor(config: Pick<EdgeConfig, 'certs' | 'acme'>, log: Logger): Storage {
  return createFileStorage({ dir: config.certs.dir, challengeDir: challengeDirFor(config.acme ?? defaultAcmeConfig, config.certs.dir), log });
}
