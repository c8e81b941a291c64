/**
 * Request metrics from the "request finished" event (and the bytes of upgraded connections). The tallies
 * of a route (tally.ts) are looked up once per route match and kept with it, so recording a request is a
 * handful of additions with no label hashing: the hot path pays next to nothing for metrics.
 */
import type { RequestContext, RequestEvents } from '../proxy/context.ts';
import type { Match, Miss } from '../routing/table.ts';
import type { EdgeMetrics } from './registry.ts';
import type { DurationTally, RouteTally } from './tally.ts';

interface Children {
  readonly route: RouteTally;
  readonly duration: DurationTally;
}

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
  const { tallies } = m;
  // Keyed by the match (immutable, rebuilt with each route table); the tallies behind are keyed by labels.
  const byMatch = new WeakMap<Match, Children>();
  const byProxy = new Map<string, Children>();
  const make = (proxy: string, vm: string): Children => ({ route: tallies.route(proxy, vm), duration: tallies.duration(proxy) });
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
    c.route.byClass[statusClassOf(ctx.status)]!++;
    c.route.bytesIn += ctx.bytesIn;
    c.route.bytesOut += ctx.bytesOut;
    tallies.observe(c.duration, ctx.durationMs / 1000);
    const code = ctx.failure?.code;
    if (code !== undefined && code.startsWith('EDGE_ERR_UPSTREAM_')) m.upstreamErrors.labels({ proxy: c.route.proxy, code }).inc();
  });
  const offBytes = events.onUpgradeBytes((match, bytesIn, bytesOut) => {
    const c = ofMatch(match);
    c.route.bytesIn += bytesIn;
    c.route.bytesOut += bytesOut;
  });
  return () => { offFinished(); offBytes(); };
}
