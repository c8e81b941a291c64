/**
 * Signals an operator, a log rotation or a stray `kill` sends do no harm: SIGUSR1 never opens Node's
 * inspector (any local process could run code in the edge through it), signals whose default action kills
 * are ignored, SIGQUIT drains like SIGTERM. Real child processes, real signals, a real connect to 9229.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { alive, connectRefused, startEdgeProcess, type EdgeProcess } from '../helpers/edge-process.ts';
import { request, startBackend, waitFor } from '../helpers/net.ts';

const INSPECTOR_PORT = 9229;
const proxy = (port: number) => ({ domain: 'a.example.com', target: '127.0.0.1', targetPort: port });
const count = (e: EdgeProcess, msg: string) => e.lines().filter((l) => l.msg === msg).length;
const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');

/** Sends SIGUSR1, then SIGUSR2 as a marker: once the reopen is logged, the SIGUSR1 was handled too. */
async function sendUsr1(e: EdgeProcess, pid: number): Promise<void> {
  const before = count(e, 'reopening the log file');
  process.kill(pid, 'SIGUSR1');
  process.kill(pid, 'SIGUSR2');
  await waitFor('the marker signal to be handled', () => count(e, 'reopening the log file') > before);
}

describe('signals', () => {
  it('SIGUSR1 opens no inspector on 127.0.0.1:9229, with or without --disable-sigusr1, and the edge keeps serving', async (t) => {
    if (!(await connectRefused(INSPECTOR_PORT))) { t.skip('something else listens on 127.0.0.1:9229'); return; }
    const b = await startBackend(t, 'b');
    // src/cli.ts under a plain `node` (no flag): the edge's own SIGUSR1 listener keeps the inspector off.
    const plain = await startEdgeProcess(t, { proxies: [proxy(b.port)] });
    await sendUsr1(plain, plain.child.pid!);
    assert.ok(await connectRefused(INSPECTOR_PORT), 'nothing listens on 9229');
    assert.equal((await request(plain.http, 'a.example.com')).status, 200);
    assert.ok(plain.lines().some((l) => l.msg === 'signal ignored: the inspector stays off'));
    plain.child.kill('SIGTERM');
    assert.equal(await plain.exited, 0);

    // bin/idcs-edge.js re-executes itself with --disable-sigusr1 (same pid); workers inherit the flag.
    const bin = await startEdgeProcess(t, { workers: 2, proxies: [proxy(b.port)] }, { entry: 'bin' });
    assert.ok(cmdline(bin.child.pid!).includes('--disable-sigusr1'), cmdline(bin.child.pid!).join(' '));
    const workers = await waitFor('both workers to answer', async () => {
      await Promise.all(Array.from({ length: 8 }, () => request(bin.http, 'a.example.com')));
      const seen = new Set(bin.lines().filter((l) => l.msg === 'access').map((l) => l.pid as number));
      return seen.size >= 2 ? [...seen] : null;
    }, 30_000);
    for (const pid of workers) assert.ok(cmdline(pid).includes('--disable-sigusr1'), `worker ${pid}: ${cmdline(pid).join(' ')}`);
    await sendUsr1(bin, bin.child.pid!);
    await sendUsr1(bin, workers[0]!);
    assert.ok(await connectRefused(INSPECTOR_PORT), 'nothing listens on 9229');
    assert.equal((await request(bin.http, 'a.example.com')).status, 200);
    assert.ok(alive(workers[0]!), 'the worker is still running');
    bin.child.kill('SIGTERM');
    assert.equal(await bin.exited, 0, bin.output());
  });

  it('signals whose default action kills are ignored; SIGQUIT drains and exits 0', async (t) => {
    const b = await startBackend(t, 'b');
    const e = await startEdgeProcess(t, { proxies: [proxy(b.port)] });
    const signals = ['SIGPIPE', 'SIGALRM', 'SIGVTALRM', 'SIGIO', 'SIGPWR', 'SIGXCPU', 'SIGXFSZ', 'SIGTRAP', 'SIGSTKFLT'] as const;
    for (const [i, s] of signals.entries()) {
      process.kill(e.child.pid!, s);
      await waitFor(`${s} to be logged as ignored`, () => count(e, 'signal ignored') === i + 1);
      assert.equal((await request(e.http, 'a.example.com')).status, 200, `still serving after ${s}`);
    }
    e.child.kill('SIGQUIT');
    assert.equal(await e.exited, 0, e.output());
    assert.ok(e.lines().some((l) => l.msg === 'signal received: draining' && l.signal === 'SIGQUIT'));
  });
});
