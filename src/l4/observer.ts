/**
 * What forwards report as they carry traffic: connections and sessions begun, bytes carried, sources
 * refused. The composition root hands the forwards an observer that feeds the metrics and the per-VM
 * traffic statistics (metrics/forwards.ts); tests may pass their own.
 */

/** The forward a report is about: its id (`tcp/10022`), protocol and the VM it reaches, if an inventory VM. */
export interface ForwardRef {
  readonly id: string;
  readonly kind: 'tcp' | 'udp';
  readonly vmKey: string | undefined;
}

/** Why a source was turned away: an access rule, the session bound (UDP), or a datagram over the cap. */
export type RefusalReason = 'access' | 'sessions' | 'bandwidth';

export interface ForwardObserver {
  /** A TCP connection was accepted or a UDP session began. */
  opened(f: ForwardRef): void;
  /** Bytes since the last report: in from the client, out to the client. */
  bytes(f: ForwardRef, bytesIn: number, bytesOut: number): void;
  refused(f: ForwardRef, reason: RefusalReason): void;
}

export const noForwardObserver: ForwardObserver = Object.freeze({ opened() {}, bytes() {}, refused() {} });
