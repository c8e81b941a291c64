/**
 * Forward metrics and traffic statistics from what the forwards report (l4/observer.ts): connections,
 * sessions, bytes and refusals into the `idcs_edge_forward_*` series, and each forward's bytes into its
 * VM's traffic statistics (a forward to an address no inventory VM has counts in the metrics only). The
 * label children of a forward are looked up once per forward spec and kept with it.
 */
import type { ForwardObserver, ForwardRef } from '../l4/observer.ts';
import type { TrafficRecorder } from '../stats/traffic.ts';
import type { EdgeMetrics } from './registry.ts';
import { UNMATCHED } from './requests.ts';

interface Children {
  readonly opened: { inc(): void };
  readonly bytesIn: { inc(n: number): void };
  readonly bytesOut: { inc(n: number): void };
}

/** Feeds `m` (and `traffic`, when given) from the forwards' reports. */
export function observeForwards(m: EdgeMetrics, traffic: TrafficRecorder | null): ForwardObserver {
  // Keyed by the spec (rebuilt with each config), so a forward that changed VM gets new children.
  const byRef = new WeakMap<ForwardRef, Children>();
  const childrenOf = (f: ForwardRef): Children => {
    let c = byRef.get(f);
    if (!c) {
      const labels = { forward: f.id, vm: f.vmKey ?? UNMATCHED };
      byRef.set(f, c = {
        opened: (f.kind === 'tcp' ? m.forwardConnections : m.forwardSessions).labels(labels),
        bytesIn: m.forwardBytes.labels({ ...labels, direction: 'in' }),
        bytesOut: m.forwardBytes.labels({ ...labels, direction: 'out' }),
      });
    }
    return c;
  };
  return {
    opened: (f) => childrenOf(f).opened.inc(),
    bytes(f, bytesIn, bytesOut) {
      const c = childrenOf(f);
      if (bytesIn > 0) c.bytesIn.inc(bytesIn);
      if (bytesOut > 0) c.bytesOut.inc(bytesOut);
      if (traffic && f.vmKey !== undefined) traffic.record('vm', f.vmKey, bytesIn, bytesOut);
    },
    refused: (f, reason) => m.forwardRefused.labels({ forward: f.id, reason }).inc(),
  };
}
