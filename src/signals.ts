/**
 * What each signal does to a running edge process (single, primary or worker). Only what the operator
 * means to happen may happen; no signal may kill the edge without a drain:
 *
 *   SIGTERM, SIGINT, SIGQUIT  drain and stop; a second one while draining exits at once
 *   SIGHUP                    reload the config (a worker leaves it to its primary)
 *   SIGUSR2                   reopen the log file at its path (after logrotate moved it)
 *   SIGUSR1                   nothing: Node would open its inspector on 127.0.0.1:9229, through which any
 *                             local process could run code in the edge. `--disable-sigusr1` keeps Node from
 *                             listening (bin/idcs-edge.js adds it); this listener covers a start without it.
 *   the rest whose default    nothing (logged): SIGPIPE, SIGALRM, SIGVTALRM, SIGIO/SIGPOLL, SIGPWR, SIGXCPU,
 *   action terminates         SIGXFSZ (a write past a file size limit then fails with EFBIG instead), SIGTRAP,
 *                             SIGSTKFLT.
 *
 * Left alone: SIGPROF (profilers), SIGABRT, SIGBUS, SIGFPE, SIGILL, SIGSEGV, SIGSYS (faults after which
 * running JavaScript is unsafe), SIGKILL and SIGSTOP (cannot be caught).
 */
import { constants } from 'node:os';
import type { Logger } from './log.ts';

const STOP: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGQUIT'];
const IGNORED: readonly NodeJS.Signals[] = ['SIGUSR1', 'SIGPIPE', 'SIGALRM', 'SIGVTALRM', 'SIGIO', 'SIGPOLL', 'SIGPWR',
  'SIGXCPU', 'SIGXFSZ', 'SIGTRAP', 'SIGSTKFLT'];

export interface SignalPlan {
  /** The process's logger; a function because a worker has none before its primary sends the config. */
  readonly log: () => Logger;
  /** Stop signals this process ignores (a worker ignores SIGINT: Ctrl-C reaches the whole group, the primary drains it). */
  readonly ignoreStop?: readonly NodeJS.Signals[];
  /** The first stop: begin draining. */
  stop(signal: NodeJS.Signals): void;
  /** A stop signal while already stopping: exit at once. */
  exitNow(signal: NodeJS.Signals): void;
  /** SIGHUP; without it SIGHUP is ignored. */
  reload?(): void;
  /** SIGUSR2. */
  reopenLogs(): void;
}

export interface SignalHandlers {
  /** Marks the process as stopping for a reason other than a signal (the primary said so); false if it already was. */
  beginStop(): boolean;
  /** Removes every listener this installed. */
  uninstall(): void;
}

/** Installs the plan's listeners on `process`; signals this platform lacks are skipped. */
export function installSignalHandlers(plan: SignalPlan): SignalHandlers {
  const { log } = plan;
  const installed: Array<[NodeJS.Signals, () => void]> = [];
  const seen = new Set<number>();
  const on = (signal: NodeJS.Signals, fn: () => void) => {
    const n = (constants.signals as Record<string, number | undefined>)[signal];
    // SIGIO and SIGPOLL are one signal on Linux: listen once.
    if (n === undefined || seen.has(n)) return;
    seen.add(n);
    process.on(signal, fn);
    installed.push([signal, fn]);
  };
  let stopping = false;
  const beginStop = () => {
    if (stopping) return false;
    stopping = true;
    return true;
  };

  for (const s of STOP) {
    if (plan.ignoreStop?.includes(s)) on(s, () => log().info({ signal: s }, 'signal ignored: the primary stops the workers'));
    else on(s, () => (beginStop() ? plan.stop(s) : plan.exitNow(s)));
  }
  on('SIGHUP', () => {
    if (plan.reload) plan.reload();
    else log().info({ signal: 'SIGHUP' }, 'signal ignored: the primary reloads the config');
  });
  on('SIGUSR2', () => {
    log().info({ signal: 'SIGUSR2' }, 'reopening the log file');
    plan.reopenLogs();
  });
  for (const s of IGNORED) {
    on(s, () => log().warn({ signal: s }, s === 'SIGUSR1' ? 'signal ignored: the inspector stays off' : 'signal ignored'));
  }
  return {
    beginStop,
    uninstall() {
      for (const [s, fn] of installed) process.off(s, fn);
    },
  };
}

export interface RunPlan {
  readonly log: () => Logger;
  readonly ignoreStop?: readonly NodeJS.Signals[];
  readonly reload?: () => void;
  reopenLogs(): void;
  /** Writes buffered log lines synchronously (before an immediate exit). */
  flushLogsSync(): void;
  /** Drains and stops everything this process runs, its log file last. */
  drain(reason: string): Promise<void>;
  /** How long `drain` may take before the process exits anyway (the grace period and a margin). */
  deadlineMs(): number;
  /** On a second stop signal, before this process exits (the primary tells its workers). */
  onExitNow?(): void;
}

export interface Run {
  /** Resolves to the exit code: 0 after a clean drain; 1 after a failed or overdue one, or a second signal. */
  readonly exited: Promise<number>;
  /** Stops for a reason other than a signal (the primary said so, the IPC channel closed); once only. */
  stop(reason: string): void;
}

/**
 * Runs a process until a stop signal (or `stop()`): drains within `deadlineMs`, exits at once on a second
 * signal. The caller exits the process with the resolved code: a stopped edge must not be kept alive by a
 * timer or handle someone forgot (Docker kills after 10 s).
 */
export function runUntilStopped(plan: RunPlan): Run {
  const { log } = plan;
  let resolveExit!: (code: number) => void;
  const exited = new Promise<number>((r) => { resolveExit = r; });
  let timer: NodeJS.Timeout | undefined;
  let done = false;
  const finish = (code: number) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    resolveExit(code);
  };
  const begin = (reason: string, signal: boolean) => {
    log().info(signal ? { signal: reason } : { reason }, signal ? 'signal received: draining' : 'stopping: draining');
    const deadlineMs = plan.deadlineMs();
    timer = setTimeout(() => {
      log().error({ deadlineMs }, 'did not stop within the grace period: exiting now');
      plan.flushLogsSync();
      finish(1);
    }, deadlineMs);
    plan.drain(reason).then(() => finish(0), (err: unknown) => {
      log().error({ err: (err as Error)?.message ?? String(err) }, 'stopping failed');
      plan.flushLogsSync();
      finish(1);
    });
  };
  const handlers = installSignalHandlers({
    log,
    ...(plan.ignoreStop ? { ignoreStop: plan.ignoreStop } : {}),
    ...(plan.reload ? { reload: plan.reload } : {}),
    reopenLogs: () => plan.reopenLogs(),
    stop: (signal) => begin(signal, true),
    exitNow(signal) {
      log().warn({ signal }, 'second signal: exiting now');
      plan.onExitNow?.();
      plan.flushLogsSync();
      finish(1);
    },
  });
  return {
    exited,
    stop(reason) {
      if (handlers.beginStop()) begin(reason, false);
    },
  };
}

/** What a drain may take beyond `shutdown.graceMs` (closing stores and the log) before the process exits anyway. */
export const STOP_MARGIN_MS = 5_000;
