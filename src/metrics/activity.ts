/**
 * What each proxy is doing right now, for the dashboard: requests and errors of the last minute (a ring of
 * one-second buckets) and its most recent failures (a bounded ring), fed by the "request finished" event.
 * Memory is bounded: 60 buckets and FAILURES_KEPT failures per proxy, and proxies idle for a day are dropped.
 * In workers mode each worker keeps its own and the primary merges their snapshots (mergeActivity).
 */
import type { RequestContext, RequestEvents } from '../proxy/context.ts';
import { proxyOf } from './requests.ts';

export const WINDOW_S = 60;
export const FAILURES_KEPT = 20;
const IDLE_DROP_MS = 86_400_000;

/** A request the edge could not answer as the VM would have: an edge failure (with its code) or a 5xx. */
export interface FailureRecord {
  readonly at: string;
  readonly id: string;
  readonly status: number;
  /** The EDGE_ERR_* code; null when the VM itself answered 5xx. */
  readonly code: string | null;
  readonly message: string;
  readonly method: string;
  readonly host: string;
  /** The request's path without its query string (which may carry secrets). */
  readonly path: string;
}

export interface ProxyActivity {
  /** Requests finished in the last WINDOW_S seconds. */
  readonly requests: number;
  /** Of those, the ones answered 5xx. */
  readonly errors: number;
  /** Most recent first, at most FAILURES_KEPT. */
  readonly failures: readonly FailureRecord[];
}

export interface ActivitySnapshot {
  readonly windowSeconds: number;
  readonly proxies: Readonly<Record<string, ProxyActivity>>;
}

export interface Activity {
  snapshot(): ActivitySnapshot;
  close(): void;
}

interface Ring {
  readonly requests: Uint32Array;
  readonly errors: Uint32Array;
  /** The second (Unix) the bucket at `second % WINDOW_S` holds. */
  second: number;
  lastMs: number;
  readonly failures: FailureRecord[];
}

const failureOf = (ctx: RequestContext, nowMs: number): FailureRecord => {
  const url = ctx.req.url ?? '/';
  const q = url.indexOf('?');
  return {
    at: new Date(nowMs).toISOString(), id: ctx.id, status: ctx.status, code: ctx.failure?.code ?? null,
    message: ctx.failure?.message ?? `the VM answered ${ctx.status}`, method: ctx.req.method ?? '',
    host: ctx.host, path: (q < 0 ? url : url.slice(0, q)).slice(0, 200),
  };
};

/** Moves `r` to `second`, zeroing the buckets of the seconds skipped. */
function advance(r: Ring, second: number): void {
  if (second <= r.second) return;
  const gap = Math.min(WINDOW_S, second - r.second);
  for (let i = 1; i <= gap; i++) {
    const b = (r.second + i) % WINDOW_S;
    r.requests[b] = 0;
    r.errors[b] = 0;
  }
  r.second = second;
}

/** Subscribes to `events`; `now` is the wall clock in ms (tests pass their own). */
export function recordActivity(events: RequestEvents, now: () => number = Date.now): Activity {
  const rings = new Map<string, Ring>();
  const off = events.onFinished((ctx) => {
    const nowMs = now();
    const second = Math.floor(nowMs / 1000);
    const proxy = proxyOf(ctx);
    let r = rings.get(proxy);
    if (!r) rings.set(proxy, r = { requests: new Uint32Array(WINDOW_S), errors: new Uint32Array(WINDOW_S), second, lastMs: nowMs, failures: [] });
    advance(r, second);
    r.lastMs = nowMs;
    const b = second % WINDOW_S;
    r.requests[b]!++;
    if (ctx.status >= 500) r.errors[b]!++;
    // Edge failures of any status (a 404 for a VM not in the inventory says why) and every 5xx.
    if (ctx.failure !== null || ctx.status >= 500) {
      r.failures.unshift(failureOf(ctx, nowMs));
      if (r.failures.length > FAILURES_KEPT) r.failures.pop();
    }
  });
  return {
    snapshot() {
      const nowMs = now();
      const second = Math.floor(nowMs / 1000);
      const proxies: Record<string, ProxyActivity> = {};
      for (const [proxy, r] of rings) {
        if (nowMs - r.lastMs > IDLE_DROP_MS) { rings.delete(proxy); continue; }
        advance(r, second);
        let requests = 0;
        let errors = 0;
        for (let i = 0; i < WINDOW_S; i++) { requests += r.requests[i]!; errors += r.errors[i]!; }
        proxies[proxy] = { requests, errors, failures: [...r.failures] };
      }
      return { windowSeconds: WINDOW_S, proxies };
    },
    close: off,
  };
}

/** One snapshot of several processes' (a workers group): counts summed, failures merged newest first. */
export function mergeActivity(snapshots: readonly ActivitySnapshot[]): ActivitySnapshot {
  const proxies: Record<string, { requests: number; errors: number; failures: FailureRecord[] }> = {};
  for (const s of snapshots) {
    for (const [proxy, a] of Object.entries(s.proxies)) {
      const p = proxies[proxy] ??= { requests: 0, errors: 0, failures: [] };
      p.requests += a.requests;
      p.errors += a.errors;
      p.failures.push(...a.failures);
    }
  }
  for (const p of Object.values(proxies)) {
    p.failures.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
    p.failures.length = Math.min(p.failures.length, FAILURES_KEPT);
  }
  return { windowSeconds: WINDOW_S, proxies };
}
