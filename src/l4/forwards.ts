/**
 * The port forwards as a part of the apply pipeline: the listener set (listeners/set.ts) with a TCP and a
 * UDP kind, whose specs come from the config's forwards and their compiled policies. An apply binds new
 * ports while it is prepared (a taken port refuses it, naming the forward), updates the forwards that
 * stay without touching their connections, and closes those that went. Bytes of long connections are
 * reported every `sweepMs` while they last, not only when they end.
 */
import type { EdgeConfig } from '../config/schema.ts';
import { createListenerSet, type ListenerSet } from '../listeners/set.ts';
import type { Logger } from '../log.ts';
import type { PolicyPart } from '../policy/policies.ts';
import type { ForwardDeps, ForwardListener } from './listener.ts';
import { noForwardObserver, type ForwardObserver } from './observer.ts';
import { quietLog } from './quiet-log.ts';
import { forwardSpecsOf, type ForwardSpec } from './specs.ts';
import { openTcpForward } from './tcp.ts';
import { openUdpForward } from './udp.ts';

export interface ForwardsPart extends ListenerSet {
  /** Open connections (TCP) and sessions (UDP) per forward id. */
  openByForward(): Record<string, number>;
  /** Open connections and sessions of every forward. */
  open(): number;
  /** Reports the bytes of open connections and sessions now (before a scrape, at close). */
  sweep(): void;
}

export interface ForwardsOptions {
  readonly log: Logger;
  readonly policies: PolicyPart;
  readonly observer?: ForwardObserver;
  /** Default 10 s. */
  readonly sweepMs?: number;
}

export function createForwardsPart(opts: ForwardsOptions): ForwardsPart {
  const registry = new Set<ForwardListener>();
  const deps: ForwardDeps = {
    observer: opts.observer ?? noForwardObserver,
    refusals: quietLog(opts.log, 'info', 'forward refused a source'),
    failures: quietLog(opts.log, 'warn', 'forward could not reach the VM'),
    registry,
  };
  const set = createListenerSet<ForwardSpec>({
    tcp: { open: (spec) => openTcpForward(spec, deps) },
    udp: { open: (spec) => openUdpForward(spec, deps) },
  }, (c: EdgeConfig) => forwardSpecsOf(c, opts.policies.of(c)));
  const sweep = () => { for (const l of registry) l.sweep(); };
  const timer = setInterval(sweep, opts.sweepMs ?? 10_000);
  timer.unref();
  return {
    ...set,
    name: 'forwards',
    openByForward() {
      const out: Record<string, number> = {};
      for (const l of registry) out[l.spec().id] = (out[l.spec().id] ?? 0) + l.open();
      return out;
    },
    open: () => [...registry].reduce((n, l) => n + l.open(), 0),
    sweep,
    async close(graceMs) {
      clearInterval(timer);
      sweep();
      await set.close(graceMs);
    },
  };
}
