/**
 * The edge as a real child process for fault tests: a config in a temp dir (free loopback ports, a log
 * file), started through the real CLI, with its log file read as an operator would read it.
 */
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { spawnEdge } from './cli.ts';
import { refusedPort, request, waitFor } from './net.ts';

type Ctx = { after(fn: () => unknown): void };

export interface EdgeProcess {
  readonly dir: string;
  readonly file: string;
  readonly logFile: string;
  readonly http: number;
  readonly https: number;
  readonly child: ReturnType<typeof spawnEdge>['child'];
  readonly exited: Promise<number | null>;
  output(): string;
  /** The log file's JSON lines (those of `file` when given, e.g. a rotated one). */
  lines(file?: string): Array<Record<string, unknown>>;
  /** Rewrites the config (temp file and rename, as a controller does). */
  write(doc: Record<string, unknown>): void;
}

/** A config dir with `doc` merged over loopback listeners on free ports, a log file and a 2 s grace (`doc.log` merges into the log section). */
export async function edgeConfig(t: Ctx, doc: Record<string, unknown>, prefix = 'edge-fault-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  // A mount or an immutable file inside (storage fault tests) is undone later; the helper that made it removes the dir then.
  t.after(() => { try { rmSync(dir, { recursive: true, force: true }); } catch { /* see mounts.ts */ } });
  const file = join(dir, 'edge.yaml');
  const logFile = join(dir, 'logs', 'http-proxy.log');
  const http = await refusedPort();
  const https = await refusedPort();
  const base = { listen: { http, https, host: '127.0.0.1' }, certs: { dir: join(dir, 'certs') }, data: { dir: join(dir, 'data') },
    log: { file: logFile, level: 'info' }, shutdown: { graceMs: 2000 } };
  const write = (d: Record<string, unknown>) => {
    writeFileSync(`${file}.tmp`, stringify({ ...base, ...d, log: { ...base.log, ...(d.log as object | undefined) } }));
    renameSync(`${file}.tmp`, file);
  };
  write(doc);
  return { dir, file, logFile, http, https, write };
}

type EdgeConfigDir = Awaited<ReturnType<typeof edgeConfig>>;

/** Starts the edge on `doc` and waits until `host` answers over HTTP (any status but a refused connection). */
export async function startEdgeProcess(t: Ctx, doc: Record<string, unknown>, opts: { entry?: 'bin' | 'cli'; host?: string } = {}): Promise<EdgeProcess> {
  return launchEdge(t, await edgeConfig(t, doc), opts);
}

/** Starts the edge on a config dir made by edgeConfig (after the test prepared it: a mount, a blocked path). */
export async function launchEdge(t: Ctx, c: EdgeConfigDir, opts: { entry?: 'bin' | 'cli'; host?: string } = {}): Promise<EdgeProcess> {
  const lines = (f = c.logFile) => (existsSync(f) ? readFileSync(f, 'utf8') : '').split('\n').filter(Boolean)
    .map((l) => { try { return JSON.parse(l) as Record<string, unknown>; } catch { return { unparsed: l }; } });
  const listening = () => lines().filter((l) => l.msg === 'idcs-edge listening').length;
  const before = listening(); // an earlier edge on the same config dir logged its own
  const p = spawnEdge(t, c.file, opts.entry ? { entry: opts.entry } : {});
  // This edge's own word that it listens (an answer on the port alone could come from another test's
  // listener that took the port first: this edge would then be exiting with EADDRINUSE), then an answer.
  await waitFor(`the edge to listen (output so far: ${p.output().slice(-500)})`, async () => {
    if (p.child.exitCode !== null) throw new Error(`the edge exited ${p.child.exitCode}: ${p.output()}`);
    if (listening() === before) return false;
    return (await request(c.http, opts.host ?? 'a.example.com', { timeoutMs: 2000 })).status > 0;
  }, 30_000);
  return { ...c, child: p.child, exited: p.exited, output: p.output, lines };
}

/** true when a TCP connection to 127.0.0.1:port is refused (nothing listens). */
export function connectRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(false); });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

/** true while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves the exit code, or rejects when the process has not exited within `ms` (it hangs). */
export function exitWithin(exited: Promise<number | null>, ms: number, what: string): Promise<number | null> {
  let timer: NodeJS.Timeout;
  return Promise.race([exited, new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still running after ${ms} ms`)), ms);
  })]).finally(() => clearTimeout(timer));
}
