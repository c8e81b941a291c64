/**
 * One worker of a `workers: N` edge: an edge without control plane and without a config file of its own.
 * Its config comes from the primary (start, then two-phase applies); missing certificates are asked of the
 * primary; new ones arrive through the store's change watch. Its traffic increments go to the primary
 * every few seconds and once more when it stops (only the primary writes the traffic store), and it answers
 * the primary's `observe` with its metrics and activity. Its log file is its own descriptor on the shared
 * file (reopened when the primary says so). The process exits once its edge has stopped.
 */
import type { PreparedApply } from '../config/apply.ts';
import { createLogger, silentLogger, type LogHandle } from '../log.ts';
import { startEdge, type Edge } from '../main.ts';
import { runUntilStopped, STOP_MARGIN_MS } from '../signals.ts';
import type { ToPrimary, ToWorker } from './messages.ts';
import { workerCount } from './primary.ts';

const TRAFFIC_EVERY_MS = 5000;

/** Runs one worker until the primary says shutdown (or goes away); resolves to the exit code. */
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
  const quiet = silentLogger();
  let logs: LogHandle | null = null;
  let edge: Edge | null = null;
  let starting: Promise<Edge> | null = null;

  const run = runUntilStopped({
    log: () => logs?.log ?? quiet,
    // Ctrl-C and Ctrl-\ reach the whole process group: the primary drains the workers.
    ignoreStop: ['SIGINT', 'SIGQUIT'],
    reopenLogs: () => logs?.reopen(),
    flushLogsSync: () => logs?.flushSync(),
    deadlineMs: () => (edge?.config().shutdown.graceMs ?? 0) + STOP_MARGIN_MS,
    async drain() {
      if (trafficTimer) clearInterval(trafficTimer);
      try {
        const e = edge ?? (starting ? await starting.catch(() => null) : null);
        await e?.close();
        // The last increments, the bytes of the WebSockets closed just now included.
        if (e) await sendTraffic(e);
      } finally {
        for (const p of pending.values()) p.abort();
        pending.clear();
        await logs?.close();
        // The IPC channel keeps the process alive: let go of it, or the process outlives its edge.
        if (process.connected) process.disconnect();
      }
    },
  });
  const state = { stopping: false, failed: false };
  const stop = (reason: string) => {
    state.stopping = true;
    run.stop(reason);
  };

  const onMessage = async (m: ToWorker) => {
    if (m.type === 'shutdown') { stop('primary: shutdown'); return; }
    if (m.type === 'reopen') { logs?.reopen(); return; }
    if (m.type === 'start') {
      logs = createLogger({ level: m.config.log.level, file: m.config.log.file, format: m.config.log.format });
      // The workers share each HTTP bandwidth cap: each enforces its part of it.
      starting = startEdge({ config: m.config, worker: true, log: logs.log, capShare: 1 / workerCount(m.config),
        ticketKey: Buffer.from(m.ticketKey, 'base64'),
        requestIssue: (target, reason) => send({ type: 'issue', target, reason }) });
      edge = await starting;
      const started = edge;
      trafficTimer = setInterval(() => { void sendTraffic(started); }, TRAFFIC_EVERY_MS);
      trafficTimer.unref();
      send({ type: 'ready' });
      return;
    }
    const e = edge ?? (starting ? await starting : null);
    if (!e || state.stopping) return;
    if (m.type === 'tickets') {
      e.setTicketKey(Buffer.from(m.key, 'base64'));
    } else if (m.type === 'observe') {
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
      (logs?.log ?? quiet).fatal({ err: (err as Error)?.stack ?? String(err) }, 'worker failed');
      process.stderr.write(`idcs-edge worker ${process.pid}: ${(err as Error)?.stack ?? String(err)}\n`);
      state.failed = true;
      stop('worker failed');
    });
  });
  process.on('disconnect', () => stop('primary went away'));
  const code = await run.exited;
  return state.failed ? 1 : code;
}
