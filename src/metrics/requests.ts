/**
 * Request metrics from the "request finished" event (and the bytes of upgraded connections). The label
 * children of a route (per status class, per direction) are looked up once per route match and kept with
 * it, so recording a request is a handful of increments with no label hashing: the hot path pays next to
 * nothing for metrics.
 */
import type { Counter, Histogram } from 'prom-client';
import type { RequestContext, RequestEvents } from '../proxy/context.ts';
import type { Match, Miss } from '../routing/table.ts';
import type { EdgeMetrics } from './registry.ts';

type Child<T> = T extends Counter<string> ? ReturnType<T['labels']> : T extends Histogram<string> ? ReturnType<T['labels']> : never;

interface Children {
  readonly byClass: ReadonlyArray<Child<Counter<string>>>;
  readonly bytesIn: Child<Counter<string>>;
  readonly bytesOut: Child<Counter<string>>;
  readonly duration: Child<Histogram<string>>;
  readonly proxy: string;
}

const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** The label of hosts no proxy matched. */
export const UNMATCHED = '-';

/** 0 for 1xx .. 4 for 5xx (anything else is clamped: a 0 of a request cut before any answer counts as 1xx). */
export const statusClassOf = (status: number): number => Math.min(4, Math.max(0, Math.floor(status / 100) - 1));

/**
 * The proxy a request counts for: its route's domain; for a template whose VM is unknown, the template's
 * (the failure is the table's Miss, which names the route); for anything else `-`.
 */
export function proxyOf(ctx: RequestContext): string {
  return ctx.match?.route.domain ?? (ctx.failure as Partial<Miss> | null)?.route?.domain ?? UNMATCHED;
}

/** Subscribes request recording to `events`; returns the unsubscribe function. */
export function recordRequests(events: RequestEvents, m: EdgeMetrics): () => void {
  // Keyed by the match (immutable, rebuilt with each route table), so a new config gets new children.
  const byMatch = new WeakMap<Match, Children>();
  const byProxy = new Map<string, Children>();
  const make = (proxy: string, vm: string): Children => ({
    byClass: CLASSES.map((status_class) => m.requests.labels({ proxy, vm, status_class })),
    bytesIn: m.bytes.labels({ proxy, vm, direction: 'in' }),
    bytesOut: m.bytes.labels({ proxy, vm, direction: 'out' }),
    duration: m.duration.labels({ proxy }),
    proxy,
  });
  const ofMatch = (match: Match): Children => {
    let c = byMatch.get(match);
    if (!c) byMatch.set(match, c = make(match.route.domain, match.vmKey ?? UNMATCHED));
    return c;
  };
  const childrenOf = (ctx: RequestContext): Children => {
    if (ctx.match) return ofMatch(ctx.match);
    const proxy = proxyOf(ctx);
    let c = byProxy.get(proxy);
    if (!c) byProxy.set(proxy, c = make(proxy, UNMATCHED));
    return c;
  };
  const offFinished = events.onFinished((ctx) => {
    const c = childrenOf(ctx);
    c.byClass[statusClassOf(ctx.status)]!.inc();
    if (ctx.bytesIn > 0) c.bytesIn.inc(ctx.bytesIn);
    if (ctx.bytesOut > 0) c.bytesOut.inc(ctx.bytesOut);
    c.duration.observe(ctx.durationMs / 1000);
    const code = ctx.failure?.code;
    if (code !== undefined && code.startsWith('EDGE_ERR_UPSTREAM_')) m.upstreamErrors.labels({ proxy: c.proxy, code }).inc();
  });
  const offBytes = events.onUpgradeBytes((match, bytesIn, bytesOut) => {
    const c = ofMatch(match);
    if (bytesIn > 0) c.bytesIn.inc(bytesIn);
    if (bytesOut > 0) c.bytesOut.inc(bytesOut);
  });
  return () => { offFinished(); offBytes(); };
}
