/**
 * Pieces the ACME fault tests share: a temp dir removed after the test, an `acme` section for Pebble with
 * small poll delays, and a letsencrypt issuer built from such a section whose log lines are kept.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acmeConfigSchema } from '../../src/acme/config.ts';
import { createAcmeIssuer, type AcmeIssuer } from '../../src/acme/issuer.ts';
import { systemClock } from '../../src/clock.ts';
import { memoryLogger } from './log.ts';
import type { Pebble } from './pebble.ts';
import { testStorage } from './storage.ts';

type Ctx = { after(fn: () => unknown): void };

export function tempDir(t: Ctx, prefix = 'edge-acme-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** An acme section for `pebble` (or any CA directory + caFile) that fails and polls fast. */
export function acmeSection(ca: Pick<Pebble, 'directoryUrl' | 'caFile'>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    directoryUrl: ca.directoryUrl, caFile: ca.caFile, agreeTos: true, skipChallengeVerification: true,
    retryMaxAttempts: 0, pollMinMs: 20, pollMaxMs: 200, pollAttempts: 50, ...extra,
  };
}

/** A letsencrypt issuer on a file storage under `dir`, closed after the test; `lines` has its log. */
export function testIssuer(t: Ctx, dir: string, section: Record<string, unknown>): { issuer: AcmeIssuer; lines: Array<Record<string, unknown>> } {
  const { log, lines } = memoryLogger();
  const issuer = createAcmeIssuer({ config: acmeConfigSchema.parse(section), storage: testStorage(t, join(dir, 'certs')), log, clock: systemClock });
  t.after(() => issuer.close());
  return { issuer, lines };
}
