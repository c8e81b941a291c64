/**
 * Traffic statistics from the "request finished" event: each request's bytes count for its proxy and, when
 * the route reaches an inventory VM, for that VM. Only an in-memory add per request (traffic.ts flushes).
 */
import type { RequestEvents } from '../proxy/context.ts';
import type { TrafficRecorder } from './traffic.ts';

export function recordTraffic(events: RequestEvents, recorder: TrafficRecorder): () => void {
  return events.onFinished((ctx) => {
    const m = ctx.match;
    if (!m || (ctx.bytesIn === 0 && ctx.bytesOut === 0)) return;
    recorder.record('proxy', m.route.domain, ctx.bytesIn, ctx.bytesOut);
    if (m.vmKey !== undefined) recorder.record('vm', m.vmKey, ctx.bytesIn, ctx.bytesOut);
  });
}
