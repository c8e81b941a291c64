/**
 * Does this certificate need renewing now, and why. PURE: dates in, a decision out, no I/O, no clock.
 * The rule follows certmagic and Let's Encrypt's guidance: renew `renewWithinDays` before expiry, but for
 * short-lived certificates (where that window would exceed a third of the lifetime, e.g. 45-day or 6-day
 * certificates) renew when a third of the lifetime remains, or half of it when the lifetime is under 10
 * days, so that a failed attempt still leaves room for retries.
 */

const DAY_MS = 86_400_000;

export interface Validity {
  readonly notBefore: Date | string;
  readonly notAfter: Date | string;
}

export interface RenewalDecision {
  readonly due: boolean;
  /** A sentence for operators: "expires in 12 days (within 30)". */
  readonly reason: string;
  /** When the certificate is (or became) due; null when there is no certificate. */
  readonly renewAt: Date | null;
}

export interface RenewalPolicy {
  readonly renewWithinDays: number;
}

const isoDay = (t: number) => new Date(t).toISOString().slice(0, 10);

/** "in 12 days", "in 1 day", "in less than a day". */
function inDays(ms: number): string {
  const d = Math.floor(ms / DAY_MS);
  if (d < 1) return 'in less than a day';
  return d === 1 ? 'in 1 day' : `in ${d} days`;
}

/** Decides whether `cert` is due for renewal at `now` (see the module comment for the rule). */
export function renewalDecision(cert: Validity | null, now: Date, policy: RenewalPolicy): RenewalDecision {
  if (cert === null) return { due: true, reason: 'no certificate', renewAt: null };
  const from = new Date(cert.notBefore).getTime();
  const to = new Date(cert.notAfter).getTime();
  const t = now.getTime();
  const lifetime = to - from;
  if (!Number.isFinite(lifetime) || lifetime <= 0) {
    return { due: true, reason: 'the certificate has no valid validity period', renewAt: null };
  }
  const windowMs = policy.renewWithinDays * DAY_MS;
  const lifetimeDays = Math.round(lifetime / DAY_MS);

  let renewAt: number;
  let dueReason: string;
  let waitReason: string;
  if (windowMs > lifetime / 3) {
    const half = lifetime < 10 * DAY_MS;
    const part = half ? 'half' : 'one third';
    renewAt = to - lifetime * (half ? 1 / 2 : 1 / 3);
    dueReason = `${part} of its ${lifetimeDays}-day lifetime remains`;
    waitReason = `expires ${inDays(to - t)}; renews when ${part} of its ${lifetimeDays}-day lifetime remains (${isoDay(renewAt)})`;
  } else {
    renewAt = to - windowMs;
    dueReason = `expires ${inDays(to - t)} (within ${policy.renewWithinDays})`;
    waitReason = `expires ${inDays(to - t)} (renews within ${policy.renewWithinDays}, from ${isoDay(renewAt)})`;
  }
  if (t >= to) return { due: true, reason: `expired ${new Date(to).toISOString()}`, renewAt: new Date(renewAt) };
  if (t >= renewAt) return { due: true, reason: dueReason, renewAt: new Date(renewAt) };
  return { due: false, reason: waitReason, renewAt: new Date(renewAt) };
}

/**
 * true when the edge warns (and alerts) that a certificate expires soon: within 7 days of `now` (or past),
 * or, for a certificate whose whole lifetime is under 28 days (the local CA's 7-day leaves, Let's Encrypt's
 * 6-day ones), within a quarter of its lifetime: renewal at half of it should have replaced it long before,
 * while a fresh short-lived certificate is no news. Without `notBefore`, 7 days.
 */
export function expiryWarning(notAfter: Date | string, now: Date, notBefore?: Date | string | null): boolean {
  const to = new Date(notAfter).getTime();
  const lifetime = notBefore ? to - new Date(notBefore).getTime() : Infinity;
  return to - now.getTime() <= Math.min(7 * DAY_MS, lifetime > 0 ? lifetime / 4 : 7 * DAY_MS);
}

/**
 * How long to wait before the next automatic attempt after `failures` consecutive failures: 1 min, 10 min,
 * 100 min, then daily. Quick enough to ride out a blip, slow enough that a broken name never burns the
 * CA's failed-validation limit (Let's Encrypt: 5 per account, name and hour).
 */
export function retryBackoffMs(failures: number): number {
  if (failures <= 0) return 0;
  return failures >= 4 ? 86_400_000 : 60_000 * 10 ** (failures - 1);
}

/** The next attempt time: the backoff, or later when the CA said when to come back (Retry-After). */
export function nextAttemptAt(now: Date, failures: number, retryAfterSeconds: number | undefined): Date {
  const backoff = now.getTime() + retryBackoffMs(failures);
  const ca = retryAfterSeconds !== undefined ? now.getTime() + retryAfterSeconds * 1000 : 0;
  return new Date(Math.max(backoff, ca));
}
