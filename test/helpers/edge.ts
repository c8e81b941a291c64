/**
 * Starts a real edge in this process on free loopback ports, from a config written to a temp dir.
 * Logs are collected in memory so tests can assert on what an operator would read.
 */
import { mkdtempSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startEdge, type Edge, type EdgeOptions } from '../../src/main.ts';
import { memoryLogger } from './log.ts';

export interface TestEdge {
  edge: Edge;
  dir: string;
  configFile: string;
  logs: Array<Record<string, unknown>>;
  /** Rewrites the config file the way a controller would (write temp, rename). */
  writeConfig(doc: Record<string, unknown>): void;
}

export function baseConfig(dir: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    listen: { http: 18080, https: 18443, host: '127.0.0.1' },
    certs: { dir: join(dir, 'certs') },
    data: { dir: join(dir, 'data') },
    log: { file: null, level: 'debug' },
    shutdown: { graceMs: 2000 },
    ...extra,
  };
}

export async function startTestEdge(t: { after(fn: () => unknown): void }, doc: Record<string, unknown>,
  opts: Partial<EdgeOptions> = {}): Promise<TestEdge> {
  const dir = (doc.__dir as string | undefined) ?? mkdtempSync(join(tmpdir(), 'edge-test-'));
  const configFile = join(dir, 'edge.yaml');
  const writeConfig = (d: Record<string, unknown>) => {
    const { __dir: _ignored, ...rest } = d;
    const tmp = `${configFile}.tmp`;
    writeFileSync(tmp, stringify(rest));
    renameSync(tmp, configFile);
  };
  writeConfig({ ...baseConfig(dir), ...doc });
  const { log, lines: logs } = memoryLogger();
  const edge = await startEdge({ configFile, log, ephemeralPorts: true, ...opts });
  t.after(() => edge.close(500));
  return { edge, dir, configFile, logs, writeConfig: (d) => writeConfig({ ...baseConfig(dir), ...d }) };
}
