/**
 * A real redis-server (Debian's package) for tests, on a free loopback port with nothing persisted, stopped
 * by PID after the test. `stop()` and `start()` let a test take Redis away and bring it back on the same port.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { refusedPort, waitFor } from './net.ts';

type Ctx = { after(fn: () => unknown): void };

export interface TestRedis {
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** Installs redis-server from Debian when it is missing (CI does this in .ci/run; here for a bare `npm test`). */
function ensureRedisServer(): void {
  if (spawnSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' }).status === 0) return;
  const sudo = process.getuid?.() === 0 ? [] : ['sudo', '-n'];
  const r = spawnSync('sh', ['-c', `${sudo.join(' ')} apt-get install -y -qq redis-server || (${sudo.join(' ')} apt-get update -qq && ${sudo.join(' ')} apt-get install -y -qq redis-server)`], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('redis-server is not installed and could not be installed (apt-get install redis-server)');
}

export async function startRedis(t: Ctx): Promise<TestRedis> {
  ensureRedisServer();
  const port = await refusedPort();
  let child: ChildProcess | null = null;
  const start = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--protected-mode', 'no', '--dir', '/tmp'], { stdio: 'ignore' });
    await waitFor('redis-server to accept connections', () => new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.end('PING\r\n'); });
      s.once('data', (d) => { s.destroy(); resolve(d.toString().startsWith('+PONG')); });
      s.once('error', () => resolve(false));
    }), 10_000);
  };
  const stop = async () => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null) return;
    c.kill('SIGTERM');
    await once(c, 'exit');
  };
  await start();
  t.after(stop);
  return { port, url: `redis://127.0.0.1:${port}/0`, stop, start };
}
