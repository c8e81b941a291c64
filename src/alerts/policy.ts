/**
 * When a certificate alert is due, decided from a renewal run's result and what was alerted before. PURE:
 * a result, the name's alert memory and the time in; the alerts and the next memory out.
 * - `certificate.renewal_failed`: an attempt failed;
 * - `certificate.expiring`: the certificate (renewed or not, uploads too) expires soon (within 7 days, or a
 *   quarter of a short lifetime: see renewal/policy.ts expiryWarning);
 * - `certificate.recovered`: after either, the certificate was renewed (or an upload replaced).
 * The first two repeat at most every REPEAT_MS per name: retries after a failure (1 min, 10 min, 100 min)
 * and on-demand runs stay quiet, while the daily scan, a day later, alerts again even if it ran a little
 * earlier than the day before.
 */
import { expiryWarning } from '../renewal/policy.ts';
import type { RenewResult } from '../renewal/renew.ts';
import type { Alert, AlertEvent } from './webhook.ts';

export const REPEAT_MS = 20 * 3_600_000;
const DAY_MS = 86_400_000;

/** What was alerted for a name that is in trouble (null: nothing, or it recovered). */
export interface AlertMemory {
  readonly failedAt?: string;
  readonly expiringAt?: string;
}

export interface AlertDecision {
  readonly alerts: readonly Alert[];
  readonly memory: AlertMemory | null;
}

const dueAgain = (at: string | undefined, now: Date) => at === undefined || now.getTime() - Date.parse(at) >= REPEAT_MS;

/** The alerts `r` calls for given `memory`, and the memory to keep (unchanged when nothing was decided). */
export function decideAlerts(r: RenewResult, memory: AlertMemory | null, now: Date): AlertDecision {
  if (r.action === 'abandoned' || r.action === 'would-renew') return { alerts: [], memory };
  const notAfter = r.action === 'renewed' ? r.after : r.before;
  const alert = (event: AlertEvent): Alert => ({
    event, name: r.name, source: r.source, notAfter,
    daysLeft: notAfter === null ? null : Math.floor((Date.parse(notAfter) - now.getTime()) / DAY_MS),
    reason: r.reason, ...(event === 'certificate.renewal_failed' && r.error ? { error: r.error } : {}), at: now.toISOString(),
  });
  const expiring = notAfter !== null && expiryWarning(notAfter, now, r.validFrom);
  const failed = r.action === 'failed';
  // Recovered: renewed, or an upload that no longer expires soon. A skipped result proves nothing (it may
  // be backing off after a failure).
  if (memory !== null && !failed && !expiring && (r.action === 'renewed' || r.action === 'reported')) {
    return { alerts: [alert('certificate.recovered')], memory: null };
  }
  const alerts: Alert[] = [];
  let next: AlertMemory = memory ?? {};
  const at = now.toISOString();
  if (failed && dueAgain(memory?.failedAt, now)) {
    alerts.push(alert('certificate.renewal_failed'));
    next = { ...next, failedAt: at };
  }
  if (expiring && dueAgain(memory?.expiringAt, now)) {
    alerts.push(alert('certificate.expiring'));
    next = { ...next, expiringAt: at };
  }
  return { alerts, memory: alerts.length > 0 ? next : memory };
}
