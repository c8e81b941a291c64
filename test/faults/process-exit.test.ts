/**
 * Every process of the edge exits once it has stopped, and a second stop signal exits at once: the real
 * CLI as a child process, stopped with real signals, its log file read afterwards.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { alive, exitWithin, startEdgeProcess } from '../helpers/edge-process.ts';
import { openWebSocket, request, startBackend, waitFor } from '../helpers/net.ts';

const proxy = (port: number) => ({ domain: 'a.example.com', target: '127.0.0.1', targetPort: port });
const msgs = (lines: Array<Record<string, unknown>>) => lines.map((l) => l.msg);

describe('process exit', () => {
  it('a second SIGTERM while draining exits at once (1), with its log line in the file', async (t) => {
    const b = await startBackend(t, 'b');
    // A grace far longer than the test waits: only an exit "at once" passes.
    const e = await startEdgeProcess(t, { shutdown: { graceMs: 90_000 }, proxies: [proxy(b.port)] });
    const hung = request(e.http, 'a.example.com', { path: '/hang', timeoutMs: 60_000 }).catch((err: Error) => err);
    await waitFor('the request to reach the VM', () => b.requests.some((r) => r.url === '/hang'));
    e.child.kill('SIGTERM');
    await waitFor('the drain to begin', () => msgs(e.lines()).includes('shutting down'));
    e.child.kill('SIGTERM');
    assert.equal(await exitWithin(e.exited, 20_000, 'the edge after a second SIGTERM'), 1, e.output());
    assert.ok(msgs(e.lines()).includes('second signal: exiting now'), 'the line reached the log file before the exit');
    assert.ok(await hung instanceof Error, 'the hung request was cut');
  });

  it('a stop that cuts requests at the end of the grace exits 0; the log file ends with "stopped"', async (t) => {
    const b = await startBackend(t, 'b');
    const e = await startEdgeProcess(t, { shutdown: { graceMs: 500 }, proxies: [proxy(b.port)] });
    const hung = Promise.all([1, 2, 3].map(() => request(e.http, 'a.example.com', { path: '/hang', timeoutMs: 60_000 }).catch((err: Error) => err)));
    await waitFor('the requests to reach the VM', () => b.requests.filter((r) => r.url === '/hang').length === 3);
    e.child.kill('SIGTERM');
    // Lines about the cut requests come after the log file closed: they must not crash the exit.
    assert.equal(await e.exited, 0, e.output());
    assert.doesNotMatch(e.output(), /SonicBoom|Unhandled|\n\s+at /);
    const m = msgs(e.lines());
    assert.ok(m.includes('grace period over: closing requests still in flight'));
    assert.equal(m.at(-1), 'stopped', 'the log file was flushed and closed after the last line');
    assert.ok((await hung).every((r) => r instanceof Error));
  });

  it('workers: 2 stops with exit 0, every worker gone, none killed by the primary', async (t) => {
    const b = await startBackend(t, 'b');
    const e = await startEdgeProcess(t, { workers: 2, shutdown: { graceMs: 3000 }, proxies: [proxy(b.port)] });
    // Idle keep-alive connections and a WebSocket are open when the stop comes.
    const pids = await waitFor('both workers to answer', async () => {
      await Promise.all(Array.from({ length: 8 }, () => request(e.http, 'a.example.com')));
      const seen = new Set(e.lines().filter((l) => l.msg === 'access').map((l) => l.pid as number));
      return seen.size >= 2 ? [...seen] : null;
    }, 30_000);
    const ws = await openWebSocket(e.http, 'a.example.com');
    t.after(() => ws.terminate());
    e.child.kill('SIGTERM');
    assert.equal(await e.exited, 0, e.output());
    assert.doesNotMatch(e.output(), /workers did not stop within the grace period/);
    for (const pid of pids) await waitFor(`worker ${pid} to be gone`, () => !alive(pid));
    assert.equal(msgs(e.lines()).filter((m) => m === 'stopped').length, 3, 'two workers and the primary logged "stopped"');
  });
});
