/**
 * A file storage for tests, on a certificates folder and the challenge folder next to it (as an edge with
 * that `certs.dir` would open it), closed after the test. Watchers and lock waits poll quickly.
 */
import { challengeDirFor } from '../../src/acme/config.ts';
import { systemClock, type Clock } from '../../src/clock.ts';
import { silentLogger } from '../../src/log.ts';
import type { Storage } from '../../src/storage/contract.ts';
import { createFileStorage } from '../../src/storage/file.ts';
import { createCertStore, type CertStore } from '../../src/tls/store.ts';

type Ctx = { after(fn: () => unknown): void };

export function testStorage(t: Ctx, certsDir: string): Storage {
  const storage = createFileStorage({ dir: certsDir, challengeDir: challengeDirFor({}, certsDir), log: silentLogger(),
    pollIntervalMs: 50, lockPollMs: 20 });
  t.after(() => storage.close());
  return storage;
}

export function testCertStore(t: Ctx, certsDir: string, clock: Clock = systemClock): CertStore {
  return createCertStore({ storage: testStorage(t, certsDir), log: silentLogger(), clock });
}
