/**
 * Traffic statistics from the "request finished" event and the bytes of upgraded connections: each request
 * counts (bytes and its status class) for its proxy and, when the route reaches an inventory VM, for that
 * VM. The recorder's slots are found once per route match, so a request costs a few additions in memory
 * (traffic.ts flushes).
 */
import { proxyOf, statusClassOf, UNMATCHED } from '../metrics/requests.ts';
import type { RequestEvents } from '../proxy/context.ts';
import type { Match } from '../routing/table.ts';
import type { TrafficRecorder, TrafficSlot } from './traffic.ts';

interface Slots {
  readonly proxy: TrafficSlot;
  readonly vm: TrafficSlot | null;
}

/** Subscribes `recorder` to `events`; returns the unsubscribe function. Hosts no proxy matched are not kept. */
export function recordTraffic(events: RequestEvents, recorder: TrafficRecorder): () => void {
  const byMatch = new WeakMap<Match, Slots>();
  const byProxy = new Map<string, Slots>();
  const ofMatch = (m: Match): Slots => {
    let s = byMatch.get(m);
    if (!s) byMatch.set(m, s = { proxy: recorder.slot('proxy', m.route.domain), vm: m.vmKey === undefined ? null : recorder.slot('vm', m.vmKey) });
    return s;
  };
  const offFinished = events.onFinished((ctx) => {
    let s: Slots | undefined;
    if (ctx.match) s = ofMatch(ctx.match);
    else {
      const proxy = proxyOf(ctx);
      if (proxy === UNMATCHED) return;
      s = byProxy.get(proxy);
      if (!s) byProxy.set(proxy, s = { proxy: recorder.slot('proxy', proxy), vm: null });
    }
    const cls = statusClassOf(ctx.status);
    s.proxy.add(ctx.bytesIn, ctx.bytesOut, cls);
    s.vm?.add(ctx.bytesIn, ctx.bytesOut, cls);
  });
  const offBytes = events.onUpgradeBytes((match, bytesIn, bytesOut) => {
    const s = ofMatch(match);
    s.proxy.add(bytesIn, bytesOut);
    s.vm?.add(bytesIn, bytesOut);
  });
  return () => { offFinished(); offBytes(); };
}
