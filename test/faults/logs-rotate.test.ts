/**
 * Log rotation as logrotate does it without copytruncate: the file is moved away, then the edge gets
 * SIGUSR2 and writes into a new file at the old path. In workers mode the primary passes the signal on.
 * A log folder that cannot be created stops start-up with a clean EDGE_ERR_LOG.
 */
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '../helpers/cli.ts';
import { edgeConfig, startEdgeProcess, type EdgeProcess } from '../helpers/edge-process.ts';
import { request, startBackend, waitFor } from '../helpers/net.ts';

const proxy = (port: number) => ({ domain: 'a.example.com', target: '127.0.0.1', targetPort: port });
const accessPaths = (e: EdgeProcess, file?: string) => e.lines(file).filter((l) => l.msg === 'access').map((l) => l.path);

/** Moves the log file away as logrotate does, sends SIGUSR2, and returns the moved file's path. */
function rotate(e: EdgeProcess): string {
  const moved = `${e.logFile}.1`;
  renameSync(e.logFile, moved);
  e.child.kill('SIGUSR2');
  return moved;
}

describe('log rotation', () => {
  it('SIGUSR2 after the log file was moved: new lines land in a new file at the old path', async (t) => {
    const b = await startBackend(t, 'b');
    const e = await startEdgeProcess(t, { proxies: [proxy(b.port)] });
    await request(e.http, 'a.example.com', { path: '/before' });
    await waitFor('the first access line', () => accessPaths(e).includes('/before'));
    const moved = rotate(e);
    await waitFor('a new line at the old path', async () => {
      await request(e.http, 'a.example.com', { path: '/after' });
      return accessPaths(e).includes('/after');
    });
    assert.ok(accessPaths(e, moved).includes('/before'), 'the moved file keeps what was written before');
    // Lines written after the reopen go to the new file only (a request in flight during it may go either way).
    await request(e.http, 'a.example.com', { path: '/later' });
    await waitFor('the later line', () => accessPaths(e).includes('/later'));
    assert.ok(!accessPaths(e, moved).includes('/later'), 'nothing new is written into the moved file');
    e.child.kill('SIGTERM');
    assert.equal(await e.exited, 0, e.output());
  });

  it('workers: 2: the primary passes SIGUSR2 on, and every worker writes into the new file', async (t) => {
    const b = await startBackend(t, 'b');
    const e = await startEdgeProcess(t, { workers: 2, proxies: [proxy(b.port)] });
    await waitFor('both workers to answer', async () => {
      await Promise.all(Array.from({ length: 8 }, () => request(e.http, 'a.example.com')));
      return new Set(e.lines().filter((l) => l.msg === 'access').map((l) => l.pid)).size >= 2;
    }, 30_000);
    rotate(e);
    await waitFor('access lines of both workers in the new file', async () => {
      await Promise.all(Array.from({ length: 8 }, () => request(e.http, 'a.example.com', { path: '/after' })));
      return new Set(e.lines().filter((l) => l.msg === 'access' && l.path === '/after').map((l) => l.pid)).size >= 2;
    }, 30_000);
    e.child.kill('SIGTERM');
    assert.equal(await e.exited, 0, e.output());
    assert.ok(e.lines().some((l) => l.msg === 'stopped' && l.pid === e.child.pid), 'the primary logs into the new file too');
  });

  it('a log folder that cannot be created (a file in its place) stops start-up with EDGE_ERR_LOG, exit 1, no stack', async (t) => {
    const c = await edgeConfig(t, {});
    mkdirSync(join(c.dir, 'var'));
    writeFileSync(join(c.dir, 'var', 'logs'), 'not a folder');
    c.write({ log: { file: join(c.dir, 'var', 'logs', 'http-proxy.log'), level: 'info' } });
    const r = await runCli(['--config', c.file]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^EDGE_ERR_LOG: cannot open the log file .*http-proxy\.log \(log\.file\): a file is in the way of the folder .*var\/logs \((EEXIST|ENOTDIR)\)/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });
});
