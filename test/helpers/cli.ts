/** Runs the real `idcs-edge` CLI as a child process (the same Node that runs the tests). */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export async function runCli(args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  const child = spawn(process.execPath, ['src/cli.ts', ...args], { cwd: opts.cwd ?? process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/**
 * Starts the edge as a child process; the caller stops it (cleanup is registered with `t.after`).
 * `entry: 'bin'` runs bin/idcs-edge.js (as the installed command and the Docker image do) instead of src/cli.ts.
 */
export function spawnEdge(t: { after(fn: () => unknown): void }, configFile: string, opts: { entry?: 'bin' | 'cli' } = {}):
  { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const entry = opts.entry === 'bin' ? 'bin/idcs-edge.js' : 'src/cli.ts';
  const child = spawn(process.execPath, [entry, '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  const exited = once(child, 'exit').then(([c]) => c as number | null);
  t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  return { child, output: () => out, exited };
}
