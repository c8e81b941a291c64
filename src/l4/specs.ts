/**
 * The listeners the forwards of a config ask for: one per port (a range `2000-2009` to `3000-3009` is ten
 * listeners, port k to target port k), keyed `tcp:127.0.0.2:2000`, each with its resolved target and its
 * compiled policy. PURE.
 */
import type { EdgeConfig } from '../config/schema.ts';
import type { ListenerSpec } from '../listeners/set.ts';
import type { ForwardPolicy, Policies } from '../policy/policies.ts';
import { forwardId } from './config.ts';
import type { ForwardRef } from './observer.ts';

/** TCP: nginx's stream proxy_timeout. UDP: the 60 s, about what NAT gateways keep a UDP mapping. */
export const DEFAULT_IDLE_MS = { tcp: 600_000, udp: 60_000 } as const;
export const DEFAULT_MAX_SESSIONS = 10_000;

export interface ForwardSpec extends ListenerSpec, ForwardRef {
  readonly kind: 'tcp' | 'udp';
  readonly index: number;
  readonly note: string | undefined;
  readonly target: { readonly host: string; readonly port: number };
  readonly policy: ForwardPolicy;
  readonly proxyProtocol: false | 'v1' | 'v2';
  readonly idleTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly maxSessions: number;
}

/** `[::1]:22` or `127.0.0.1:22`. */
export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Every listener `config`'s forwards need, with `policies` (compiled for that same config). */
export function forwardSpecsOf(config: EdgeConfig, policies: Policies): ForwardSpec[] {
  const specs: ForwardSpec[] = [];
  config.forwards.forEach((f, index) => {
    const policy = policies.forForward(index);
    const address = f.target ?? policies.inventory.resolve({ vm: f.vm! })?.address;
    // The schema refuses a vm the inventory does not have; a forward without a target listens for nothing.
    if (address === undefined) return;
    const host = f.listen ?? config.listen.host;
    const targetFrom = f.targetPort?.from ?? f.port.from;
    for (let port = f.port.from; port <= f.port.to; port++) {
      specs.push(Object.freeze({
        key: `${f.protocol}:${hostPort(host, port)}`, kind: f.protocol, host, port, path: `forwards[${index}].port`,
        id: forwardId(f), index, note: f.note, vmKey: policy.vmKey,
        target: Object.freeze({ host: address, port: targetFrom + (port - f.port.from) }),
        policy, proxyProtocol: f.proxyProtocol,
        idleTimeoutMs: f.idleTimeoutMs ?? DEFAULT_IDLE_MS[f.protocol],
        connectTimeoutMs: config.upstream.connectTimeoutMs,
        maxSessions: f.maxSessions ?? DEFAULT_MAX_SESSIONS,
      }));
    }
  });
  return specs;
}
