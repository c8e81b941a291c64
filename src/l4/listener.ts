/** What the TCP and UDP forward listeners share: their dependencies and what the forwards part asks of them. */
import type { OpenListener } from '../listeners/set.ts';
import type { ForwardObserver } from './observer.ts';
import type { QuietLog } from './quiet-log.ts';
import type { ForwardSpec } from './specs.ts';

export interface ForwardDeps {
  readonly observer: ForwardObserver;
  /** Refused sources (rate-limited). */
  readonly refusals: QuietLog;
  /** VMs that cannot be reached (rate-limited). */
  readonly failures: QuietLog;
  /** Every open forward listener; each adds itself when bound and leaves when closed. */
  readonly registry: Set<ForwardListener>;
}

export interface ForwardListener extends OpenListener<ForwardSpec> {
  spec(): ForwardSpec;
  /** Open TCP connections or UDP sessions. */
  open(): number;
  /** Reports the bytes carried since the last report (long connections are counted while they last). */
  sweep(): void;
}
