/**
 * Renew all: the one function that cron, `idcs-edge --renew-ssl` and any API call trigger. For each
 * certificate the config needs: decide (policy.ts), take the store lock, re-read and decide again inside it
 * (another process may have renewed meanwhile; certmagic config.go does the same), issue, store atomically.
 * A failure is recorded in the name's renewal state (tls/failures.ts), certificate or not, and the old
 * certificate keeps serving. The running edge picks up a stored certificate through the store's change
 * watch (tls/contexts.ts watch()), so there is no other hot-swap.
 * A second attempt at a name in this process joins the one in flight (inflight.ts) instead of waiting for
 * its own lock. The run's signal (the edge shutting down) stops lock waits and abandons issuance; an
 * abandoned attempt is not the name's failure and records none.
 * Uploaded certificates are never touched, only reported.
 */
import { readFileSync } from 'node:fs';
import type { Clock } from '../clock.ts';
import type { CertSource } from '../config/schema.ts';
import { EdgeError, ErrorCodes } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { RouteTable } from '../routing/table.ts';
import { coversAll, parseCertPem } from '../tls/certinfo.ts';
import type { Issuer, StoredCert } from '../tls/issuer.ts';
import type { CertStore } from '../tls/store.ts';
import type { InFlight } from './inflight.ts';
import { nextAttemptAt, renewalDecision, type RenewalDecision, lifetimeOf } from './policy.ts';

export interface RenewTarget {
  /** Store name: the route's domain (`*.user1.example.com` for wildcard and template routes). */
  readonly name: string;
  readonly names: readonly string[];
  readonly source: CertSource;
  readonly certFile?: string;
  readonly keyFile?: string;
}

export interface RenewResult {
  readonly name: string;
  readonly source: CertSource;
  /** notAfter before the run, null when there was no certificate. */
  readonly before: string | null;
  readonly after: string | null;
  /** The whole lifetime of the certificate the result ends with (the new one when renewed), null when unknown. */
  readonly lifetimeMs?: number | null;
  readonly action: 'renewed' | 'skipped' | 'reported' | 'failed' | 'would-renew' | 'abandoned';
  readonly reason: string;
  readonly error?: { readonly code: string; readonly message: string };
  /** notBefore of the certificate the name has after the run (the new one when renewed), when known. */
  readonly validFrom?: string | null;
}

export interface RenewDeps {
  readonly store: CertStore;
  readonly issuers: Partial<Record<CertSource, Issuer>>;
  readonly log: Logger;
  readonly clock: Clock;
  /** Attempts in flight in this process, by name: a second attempt joins the first (the service passes one). */
  readonly inflight?: InFlight<RenewResult>;
}

export interface RenewOptions {
  /** Renew every managed certificate, due or not (and ignore retry backoff). */
  readonly force?: boolean;
  /** Only the certificate with this name (exact, or the wildcard name `*.a.b`). */
  readonly domain?: string;
  /** Decide and report; take no lock, issue nothing, write nothing. */
  readonly dryRun?: boolean;
  readonly renewWithinDays: number;
  /** How long to wait for another process holding a certificate's lock (renewal.lockWaitMs). */
  readonly lockWaitMs?: number;
  /** Aborts lock waits and issuance in progress (shutdown); the run then stops. */
  readonly signal?: AbortSignal;
}

/** The certificates a route table needs (see RouteTable.certTargets: templates may expand to one per VM). */
export function renewalTargets(table: RouteTable): RenewTarget[] {
  return [...table.certTargets];
}

const errorOf = (err: unknown) => ({
  code: err instanceof EdgeError ? err.code : ErrorCodes.ISSUE_FAILED,
  message: (err as Error)?.message ?? String(err),
});

/** What is wrong with the stored certificate for this target, or the policy's decision when nothing is. */
function decide(t: RenewTarget, s: StoredCert | null, now: Date, opts: RenewOptions): RenewalDecision {
  if (s !== null && !coversAll(s.meta.names, t.names)) {
    return { due: true, reason: `the stored certificate does not cover ${t.names.join(', ')}`, renewAt: null };
  }
  if (s !== null && s.meta.source !== t.source) {
    return { due: true, reason: `a ${s.meta.source} certificate stands in for the ${t.source} one`, renewAt: null };
  }
  const d = renewalDecision(s?.meta ?? null, now, opts);
  return opts.force && !d.due ? { ...d, due: true, reason: `forced (${d.reason})` } : d;
}

function reportUpload(t: RenewTarget, now: Date, opts: RenewOptions): RenewResult {
  try {
    const info = parseCertPem(readFileSync(t.certFile ?? '', 'utf8'));
    const d = renewalDecision(info, now, opts);
    return { name: t.name, source: t.source, before: info.notAfter, after: info.notAfter, validFrom: info.notBefore, action: 'reported',
      reason: d.due ? `${d.reason}: replace ${t.certFile} and ${t.keyFile} (uploaded certificates are not renewed here)` : d.reason };
  } catch (err) {
    return { name: t.name, source: t.source, before: null, after: null, action: 'reported',
      reason: `cannot read the uploaded certificate ${t.certFile}`, error: { code: ErrorCodes.CERT_UPLOAD, message: (err as Error).message } };
  }
}

async function renewOne(deps: RenewDeps, t: RenewTarget, opts: RenewOptions): Promise<RenewResult> {
  const { store, log, clock } = deps;
  if (t.source === 'upload') return reportUpload(t, clock.now(), opts);
  const first = await store.read(t.name);
  const before = first?.meta.notAfter ?? null;
  const base = { name: t.name, source: t.source, before, lifetimeMs: lifetimeOf(first?.meta) };
  const d = decide(t, first, clock.now(), opts);
  if (!d.due) return { ...base, after: before, action: 'skipped', reason: d.reason };
  const failed = opts.force ? null : await store.failure(t.name);
  if (failed && Date.parse(failed.nextAttemptAt) > clock.now().getTime()) {
    return { ...base, after: before, action: 'skipped',
      reason: `${d.reason}; retrying after ${failed.nextAttemptAt} (${failed.failures} failed attempt(s), last: ${failed.lastError.message})` };
  }
  if (opts.dryRun) return { ...base, after: before, action: 'would-renew', reason: d.reason };
  const issuer = deps.issuers[t.source];
  if (!issuer) {
    return { ...base, after: before, action: 'failed', reason: d.reason,
      error: { code: ErrorCodes.ISSUE_FAILED, message: `no issuer for certSource ${t.source} is available in this process` } };
  }

  const attempt = () => store.withLock(t.name, async (lost): Promise<RenewResult> => {
    const now = clock.now();
    const current = await store.read(t.name);
    // Inside the lock: if another process stored a new certificate since we looked, its work stands.
    if (current && current.meta.fingerprint256 !== first?.meta.fingerprint256) {
      const again = decide(t, current, now, { ...opts, force: false });
      if (!again.due) {
        return { ...base, after: current.meta.notAfter, lifetimeMs: lifetimeOf(current.meta), action: 'skipped', reason: `renewed by another process meanwhile (${again.reason})` };
      }
    }
    try {
      // Losing the lease (expired and taken over) aborts the order: the new holder is issuing now.
      const issued = await issuer.issue({ name: t.name, names: t.names }, opts.signal ? AbortSignal.any([lost, opts.signal]) : lost);
      const meta = await store.write(t.name, { ...issued, meta: { source: t.source } });
      log.info({ name: t.name, source: t.source, notAfter: meta.notAfter, reason: d.reason }, 'certificate renewed');
      return { ...base, after: meta.notAfter, lifetimeMs: lifetimeOf(meta), action: 'renewed', reason: d.reason };
    } catch (err) {
      const error = errorOf(err);
      if (opts.signal?.aborted) return abandoned(deps, t, base.before, d.reason);
      if (lost.aborted) {
        // Not this name's failure: the lease lapsed and whoever took it over is issuing (and will store) now.
        log.error({ name: t.name, code: error.code, err: error.message }, 'certificate renewal abandoned: the lock was lost');
        return { ...base, after: current?.meta.notAfter ?? null, action: 'failed', reason: d.reason, error };
      }
      const failures = ((await store.failure(t.name).catch(() => null))?.failures ?? 0) + 1;
      // An ACME error carries the problem type and, on rate limits, the CA's Retry-After (seconds).
      const { problemType, retryAfter } = err as { problemType?: string; retryAfter?: number };
      const next = nextAttemptAt(now, failures, retryAfter).toISOString();
      // The old certificate (if any) stays in place; the failure is kept for the backoff and `idcs-edge certs`.
      await store.recordFailure({ name: t.name, source: t.source, failures, nextAttemptAt: next,
        lastError: { at: now.toISOString(), ...error, ...(problemType ? { problemType } : {}) } })
        .catch((e: Error) => log.error({ name: t.name, err: e.message }, 'cannot record the renewal failure'));
      log.error({ name: t.name, source: t.source, code: error.code, problemType, err: error.message, failures, nextAttemptAt: next }, 'certificate renewal failed');
      return { ...base, after: current?.meta.notAfter ?? null, action: 'failed', reason: d.reason, error };
    }
  }, { ...(opts.lockWaitMs !== undefined ? { waitMs: opts.lockWaitMs } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
  if (!deps.inflight) return attempt();
  if (deps.inflight.has(t.name)) log.info({ name: t.name, source: t.source }, 'joining the certificate attempt in flight');
  return deps.inflight.run(t.name, attempt);
}

/** The result of an attempt stopped by the run's signal: logged, and not recorded as the name's failure. */
function abandoned(deps: RenewDeps, t: RenewTarget, before: string | null, reason: string): RenewResult {
  deps.log.warn({ name: t.name, source: t.source }, 'certificate issuance abandoned: the edge is shutting down');
  return { name: t.name, source: t.source, before, after: before, action: 'abandoned', reason: `${reason}; abandoned at shutdown` };
}

/**
 * Renews every target that is due (all managed ones with `force`), one at a time so that an ACME CA sees
 * one order at a time; one failure never stops the others. Resolves to one result per considered target.
 */
export async function renewAll(deps: RenewDeps, targets: readonly RenewTarget[], opts: RenewOptions): Promise<RenewResult[]> {
  const wanted = opts.domain?.trim().toLowerCase().replace(/\.$/, '');
  const results: RenewResult[] = [];
  for (const t of targets) {
    if (wanted !== undefined && t.name !== wanted) continue;
    if (opts.signal?.aborted) break;
    try {
      results.push(await renewOne(deps, t, opts));
    } catch (err) {
      if (opts.signal?.aborted) {
        results.push(abandoned(deps, t, null, 'waiting for the lock'));
        break;
      }
      // Lock timeouts and store errors land here: reported per certificate, never thrown past the run.
      const error = errorOf(err);
      deps.log.error({ name: t.name, code: error.code, err: error.message }, 'certificate renewal failed');
      results.push({ name: t.name, source: t.source, before: null, after: null, action: 'failed', reason: 'could not renew', error });
    }
  }
  return results;
}
