/**
 * One worker of a `workers: N` edge: an edge without control plane and without a config file of its own.
 * Its config comes from the primary (start, then two-phase applies); missing certificates are asked of the
 * primary; new ones arrive through the store's change watch. The process exits once its edge has stopped.
 */
import type { PreparedApply } from '../config/apply.ts';
import { startEdge, type Edge } from '../main.ts';
import type { ToPrimary, ToWorker } from './messages.ts';
import { workerCount } from './primary.ts';

/** Runs one worker until the primary says shutdown (or goes away); resolves to the exit code. */
export async function runWorker(): Promise<number> {
  const send = (m: ToPrimary) => { if (process.connected) process.send?.(m); };
  const pending = new Map<number, PreparedApply>();
  let edge: Edge | null = null;
  let starting: Promise<Edge> | null = null;
  let stopping: Promise<number> | null = null;
  let resolveExit!: (code: number) => void;
  const exited = new Promise<number>((r) => { resolveExit = r; });

  const stop = () => {
    stopping ??= (async () => {
      const e = edge ?? (starting ? await starting.catch(() => null) : null);
      try {
        await e?.close();
        return 0;
      } catch {
        return 1;
      } finally {
        for (const p of pending.values()) p.abort();
        pending.clear();
      }
    })().then((code) => {
      // The IPC channel keeps the process alive: let go of it, or the process outlives its edge.
      if (process.connected) process.disconnect();
      resolveExit(code);
      return code;
    });
    return stopping;
  };

  const onMessage = async (m: ToWorker) => {
    if (m.type === 'shutdown') { void stop(); return; }
    if (m.type === 'start') {
      // The workers share each HTTP bandwidth cap: each enforces its part of it.
      starting = startEdge({ config: m.config, worker: true, capShare: 1 / workerCount(m.config),
        requestIssue: (target, reason) => send({ type: 'issue', target, reason }) });
      edge = await starting;
      send({ type: 'ready' });
      return;
    }
    const e = edge ?? (starting ? await starting : null);
    if (!e || stopping) return;
    if (m.type === 'prepare') {
      const p = await e.prepare({ config: m.config }, 'primary');
      if ('commit' in p) {
        pending.set(m.id, p);
        send({ type: 'prepared', id: m.id, ok: true });
      } else {
        send({ type: 'prepared', id: m.id, ok: false, ...(p.issues ? { issues: p.issues } : {}), ...(p.error ? { message: p.error.message } : {}) });
      }
    } else if (m.type === 'commit' || m.type === 'abort') {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (m.type === 'commit') p?.commit(); else p?.abort();
    } else if (m.type === 'apply') {
      await e.apply({ config: m.config }, 'primary');
    }
  };
  process.on('message', (m: ToWorker) => {
    onMessage(m).catch((err: unknown) => {
      process.stderr.write(`idcs-edge worker ${process.pid}: ${(err as Error)?.stack ?? String(err)}\n`);
      void stop().then(() => resolveExit(1));
    });
  });
  // The primary forwards signals as messages; a signal sent to a worker directly drains it too.
  process.on('SIGTERM', () => { void stop(); });
  process.on('SIGINT', () => {});
  process.on('SIGHUP', () => {});
  process.on('disconnect', () => { void stop(); });
  return exited;
}
