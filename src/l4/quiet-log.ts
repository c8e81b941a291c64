/**
 * A log line that cannot flood the log: the first event is logged with its facts, later ones within
 * `intervalMs` are only counted, and the next line carries how many were left out (`suppressed`). Used for
 * refused sources and unreachable VMs of forwards, which a scan or a flood can produce by the thousand.
 */
import { systemTicks, type Ticks } from '../clock.ts';
import type { Logger } from '../log.ts';

export interface QuietLog {
  note(fields: Record<string, unknown>): void;
}

export function quietLog(log: Logger, level: 'info' | 'warn', message: string, opts: { intervalMs?: number; now?: Ticks } = {}): QuietLog {
  const interval = opts.intervalMs ?? 10_000;
  const now = opts.now ?? systemTicks;
  let last = -Infinity;
  let suppressed = 0;
  return {
    note(fields) {
      const t = now();
      if (t - last < interval) {
        suppressed++;
        return;
      }
      last = t;
      log[level]({ ...fields, suppressed }, message);
      suppressed = 0;
    },
  };
}
