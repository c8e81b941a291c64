/**
 * One worker of a `workers: N` edge: an edge without control plane and without a config file of its own.
 * Its config comes from the primary (start, then two-phase applies); missing certificates are asked of the
 * primary; new ones arrive through the store's change watch. Its traffic increments go to the primary
 * every few seconds and once more when it stops (only the primary writes the traffic store), and it answers
 * the primary's `observe` with its metrics and activity. The process exits once its edge has stopped.
 */
import type { PreparedApply } from '../config/apply.ts';
import { startEdge, type Edge } from '../main.ts';
import type { ToPrimary, ToWorker } from './messages.ts';

/** Runs one worker until the primary says shutdown (or goes away); resolves to the exit code. */
const TRAFFIC_EVERY_MS = 5000;

export async function runWorker(): Promise<number> {
  const send = (m: ToPrimary) => { if (process.connected) process.send?.(m); };
  /** Resolves once `m` left (or could not leave) for the primary. */
  const sendNow = (m: ToPrimary) => new Promise<void>((resolve) => {
    if (!process.connected || !process.send) { resolve(); return; }
    process.send(m, undefined, {}, () => resolve());
  });
  let trafficTimer: NodeJS.Timeout | null = null;
  const sendTraffic = (e: Edge) => {
    const deltas = e.observer.takeTraffic();
    return deltas.length > 0 ? sendNow({ type: 'traffic', deltas }) : Promise.resolve();
  };
  const pending = new Map<number, PreparedApply>();
  let edge: Edge | null = null;
  let starting: Promise<Edge> | null = null;
  let stopping: Promise<number> | null = null;
  let resolveExit!: (code: number) => void;
  const exited = new Promise<number>((r) => { resolveExit = r; });

  const stop = () => {
    stopping ??= (async () => {
      const e = edge ?? (starting ? await starting.catch(() => null) : null);
      if (trafficTimer) clearInterval(trafficTimer);
      try {
        await e?.close();
        // The last increments, the bytes of the WebSockets closed just now included.
        if (e) await sendTraffic(e);
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
      starting = startEdge({ config: m.config, worker: true, requestIssue: (target, reason) => send({ type: 'issue', target, reason }) });
      edge = await starting;
      const started = edge;
      trafficTimer = setInterval(() => { void sendTraffic(started); }, TRAFFIC_EVERY_MS);
      trafficTimer.unref();
      send({ type: 'ready' });
      return;
    }
    const e = edge ?? (starting ? await starting : null);
    if (!e || stopping) return;
    if (m.type === 'observe') {
      send({ type: 'observed', id: m.id, observation: await e.observer.observe() });
    } else if (m.type === 'prepare') {
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
