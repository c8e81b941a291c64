/**
 * The renewal service of a running edge: the cron scan (and one at start), on-demand issuance of managed
 * certificates that are missing (a new letsencrypt route or VM), retries at each failure's backoff time,
 * and expiry alerts. Every path goes through renewAll, so locking, re-checks and backoff are the same for
 * the cron job, a new route, and `idcs-edge --renew-ssl`. The service owns the single flight of its
 * attempts (a scan and an on-demand request for one name make one order) and one abort signal: close()
 * abandons the work on the CA at once instead of waiting for it.
 */
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import { createInFlight } from './inflight.ts';
import { expiryWarning, retryBackoffMs } from './policy.ts';
import { renewAll, type RenewDeps, type RenewOptions, type RenewResult, type RenewTarget } from './renew.ts';
import { startRenewalScheduler, type RenewalScheduler } from './schedule.ts';

export interface RenewalServiceOptions {
  /** Read at each run: the issuers follow config reloads. */
  deps(): RenewDeps;
  /** The certificates the current config needs (read at each run, so reloads are seen). */
  targets(): readonly RenewTarget[];
  renewWithinDays(): number;
  /** renewal.lockWaitMs, read at each run. */
  lockWaitMs(): number;
  readonly schedule: string;
  readonly timezone: string;
  /** Run a scan right away (catches up on runs missed while the edge was down). */
  readonly runAtStart: boolean;
  /** Called after a run stored anything, so the new certificates are served at once. */
  onStored(): Promise<unknown>;
  /** Told the results of every run (metrics count them, alerts decide from them); must not throw. */
  onResults?(results: readonly RenewResult[]): void;
  /**
   * In a fleet: true while this edge holds the renewal lease. Only then do the cron scan and on-demand
   * requests run here (the lease holder issues for the whole fleet); absent: always.
   */
  leader?(): boolean;
  readonly log: Logger;
  readonly clock: Clock;
}

export interface RenewalService {
  /** Queues issuance of one certificate (deduplicated); returns at once. Runs once started. */
  request(target: RenewTarget, reason: string): void;
  /** Starts working the queue (the edge calls this once its listeners are up). */
  start(): void;
  /** A full scan, as the cron job runs it. */
  scan(reason: string): Promise<readonly RenewResult[]>;
  /** Renews now, as `--renew-ssl` does (the admin API's renew): `force` ignores the rule and the backoff, `domain` picks one. */
  renew(options: Pick<RenewOptions, 'force' | 'domain'>, reason: string): Promise<readonly RenewResult[]>;
  /** Resolves when no on-demand issuance is queued or running. */
  idle(): Promise<void>;
  /** Abandons issuance in progress (lock waits, CA requests, polls, DNS hook) and resolves once every run has stopped. */
  close(): Promise<void>;
}

export function createRenewalService(o: RenewalServiceOptions): RenewalService {
  const { log, clock } = o;
  const queue = new Map<string, RenewTarget>();
  const retries = new Map<string, NodeJS.Timeout>();
  const inflight = createInFlight<RenewResult>();
  const stopping = new AbortController();
  let worker: Promise<void> | null = null;
  let started = false;
  let closed = false;

  /** Alerts for what a run left behind: Let's Encrypt no longer mails about expiry, so the log must. */
  const alert = (results: readonly RenewResult[]) => {
    const now = clock.now();
    for (const r of results) {
      const notAfter = r.action === 'renewed' ? r.after : r.before;
      if (r.action === 'failed') {
        log.warn({ name: r.name, source: r.source, notAfter, code: r.error?.code, reason: r.reason }, 'certificate due and not renewed');
      }
      if (notAfter && expiryWarning(notAfter, now, r.lifetimeMs) && r.action !== 'renewed') {
        log.warn({ name: r.name, source: r.source, notAfter, daysLeft: Math.floor((Date.parse(notAfter) - now.getTime()) / 86_400_000) },
          'certificate expires soon');
      }
    }
  };

  const scheduleRetries = async (results: readonly RenewResult[]) => {
    for (const r of results) {
      if (r.action !== 'failed' || closed) continue;
      // The backoff is in the store (for names with and without a certificate), so a restart keeps it. A
      // failure that recorded none (a busy lock, no issuer) is retried after the first backoff step.
      const failed = await o.deps().store.failure(r.name).catch(() => null);
      const at = Math.max((failed && Date.parse(failed.nextAttemptAt)) || 0, clock.now().getTime() + retryBackoffMs(1));
      clearTimeout(retries.get(r.name));
      const delay = Math.max(0, at - clock.now().getTime());
      // Retries further out than a day are left to the daily scan.
      if (delay > 86_400_000) continue;
      const timer = setTimeout(() => {
        retries.delete(r.name);
        const target = o.targets().find((t) => t.name === r.name);
        if (target) request(target, 'retry after backoff');
      }, delay);
      timer.unref();
      retries.set(r.name, timer);
    }
  };

  const run = async (targets: readonly RenewTarget[], reason: string, extra: Partial<RenewOptions> = {}): Promise<readonly RenewResult[]> => {
    const results = await renewAll({ ...o.deps(), inflight }, [...targets],
      { ...extra, renewWithinDays: o.renewWithinDays(), lockWaitMs: o.lockWaitMs(), signal: stopping.signal });
    for (const r of results) {
      if (r.action === 'renewed') log.info({ name: r.name, source: r.source, notAfter: r.after, reason }, 'certificate stored');
    }
    if (results.some((r) => r.action === 'renewed')) await o.onStored();
    alert(results);
    o.onResults?.(results);
    await scheduleRetries(results);
    return results;
  };

  /** A scan of every certificate (the cron job, the one at start, a renewal lease taken): logs what it did. */
  const scanAll = async (reason: string): Promise<readonly RenewResult[]> => {
    const results = await run(o.targets(), reason);
    const count = (a: RenewResult['action']) => results.filter((r) => r.action === a).length;
    const done = { reason, certificates: results.length, renewed: count('renewed'), failed: count('failed') };
    // A scan that changed nothing is not news at info (start-up stays quiet).
    if (done.renewed || done.failed) log.info(done, 'renewal scan done');
    else log.debug(done, 'renewal scan done');
    return results;
  };

  const drain = async () => {
    while (queue.size > 0 && !closed) {
      const batch = [...queue.values()];
      queue.clear();
      await run(batch, 'on demand').catch((err: Error) => log.error({ err: err.message }, 'on-demand issuance failed'));
    }
  };

  const request = (target: RenewTarget, reason: string) => {
    if (closed) return;
    if (o.leader && !o.leader()) {
      log.debug({ name: target.name, reason }, 'certificate needed: the fleet\'s renewal scheduler issues it');
      return;
    }
    // A name backing off after a failure is skipped by renewAll, which reads the backoff from the store.
    if (!queue.has(target.name)) log.info({ name: target.name, source: target.source, reason }, 'certificate requested');
    queue.set(target.name, target);
    if (started) worker ??= drain().finally(() => { worker = null; });
  };

  const scheduler: RenewalScheduler = startRenewalScheduler({
    schedule: o.schedule, timezone: o.timezone, runAtStart: o.runAtStart, log,
    run: async () => {
      if (o.leader && !o.leader()) log.info('renewal scan skipped: another edge runs the fleet\'s renewal scheduler');
      else await scanAll('scan');
    },
  });

  return {
    request,
    start() {
      started = true;
      if (queue.size > 0) worker ??= drain().finally(() => { worker = null; });
    },
    scan: (reason) => scanAll(reason),
    renew: (options, reason) => run(o.targets(), reason, options),
    async idle() {
      while (worker) await worker;
    },
    async close() {
      closed = true;
      stopping.abort(new Error('the edge is shutting down'));
      for (const t of retries.values()) clearTimeout(t);
      retries.clear();
      await scheduler.stop();
      if (worker) await worker;
    },
  };
}
