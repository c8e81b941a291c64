/**
 * Traffic statistics from the "request finished" event and the bytes of upgraded connections: each request
 * counts (bytes and its status class) for its proxy and, when the route reaches an inventory VM, for that
 * VM. Only an in-memory add per request (traffic.ts flushes).
 */
import { proxyOf, statusClassOf, UNMATCHED } from '../metrics/requests.ts';
import type { RequestEvents } from '../proxy/context.ts';
import type { TrafficRecorder } from './traffic.ts';

/** Subscribes `recorder` to `events`; returns the unsubscribe function. Hosts no proxy matched are not kept. */
export function recordTraffic(events: RequestEvents, recorder: TrafficRecorder): () => void {
  const offFinished = events.onFinished((ctx) => {
    const proxy = proxyOf(ctx);
    if (proxy === UNMATCHED) return;
    const cls = statusClassOf(ctx.status);
    recorder.record('proxy', proxy, ctx.bytesIn, ctx.bytesOut, cls);
    const vm = ctx.match?.vmKey;
    if (vm !== undefined) recorder.record('vm', vm, ctx.bytesIn, ctx.bytesOut, cls);
  });
  const offBytes = events.onUpgradeBytes((match, bytesIn, bytesOut) => {
    recorder.record('proxy', match.route.domain, bytesIn, bytesOut);
    if (match.vmKey !== undefined) recorder.record('vm', match.vmKey, bytesIn, bytesOut);
  });
  return () => { offFinished(); offBytes(); };
}
