/**
 * The renewal trigger: node-cron runs the scan on `renewal.schedule` (default daily 02:00) and once at
 * start, to catch up on runs missed while the edge was down. Runs never overlap: a run that is still going
 * when the next one is due makes the next one a no-op. Thin on purpose: all decisions are in renewAll.
 */
import cron from 'node-cron';
import type { Logger } from '../log.ts';

export interface RenewalScheduler {
  /** Runs a scan now unless one is running (then waits for that one). */
  runNow(reason: string): Promise<void>;
  nextRun(): Date | null;
  stop(): Promise<void>;
}

export interface SchedulerOptions {
  readonly schedule: string;
  readonly timezone: string;
  readonly runAtStart: boolean;
  readonly log: Logger;
  run(): Promise<void>;
}

export function startRenewalScheduler(opts: SchedulerOptions): RenewalScheduler {
  let running: Promise<void> | null = null;
  let stopped = false;
  const runNow = (reason: string): Promise<void> => {
    if (stopped) return Promise.resolve();
    if (running) return running;
    opts.log.info({ reason }, 'renewal scan started');
    running = opts.run().then(
      () => { opts.log.info({ reason }, 'renewal scan finished'); },
      (err: Error) => { opts.log.error({ reason, err: err.message }, 'renewal scan failed'); },
    ).finally(() => { running = null; });
    return running;
  };
  const task = cron.schedule(opts.schedule, () => runNow('schedule'), {
    timezone: opts.timezone, noOverlap: true, name: 'idcs-edge-renewal',
  });
  if (opts.runAtStart) void runNow('start');
  opts.log.info({ schedule: opts.schedule, timezone: opts.timezone, next: task.getNextRun()?.toISOString() }, 'renewal scheduled');
  return {
    runNow,
    nextRun: () => task.getNextRun(),
    async stop() {
      stopped = true;
      await task.destroy();
      if (running) await running;
    },
  };
}

/** true when node-cron accepts the expression (5 fields, or 6 with seconds). */
export function isValidSchedule(expr: string): boolean {
  return cron.validate(expr);
}
