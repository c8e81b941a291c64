/**
 * Token buckets for bandwidth caps: `bytesPerSecond` refills, up to `burstBytes`. PURE (time comes from the
 * Ticks it is given). A stream charges each chunk after passing it on and may run into debt by that one
 * chunk; the answer is how long to pause its source until the debt is paid. Streams that share a bucket
 * (every connection of a VM) each pause for the shared debt, so together they get the rate, and a timer
 * that fires late is made up for by the tokens that accrued meanwhile. Datagrams cannot be paused: they
 * are sent only when the tokens are there (tryTake), else dropped.
 */
import type { Ticks } from '../clock.ts';

export interface Bucket {
  readonly bytesPerSecond: number;
  readonly burstBytes: number;
  /** Charges `n` bytes already sent; returns the ms to pause before sending more (0: go on). */
  take(n: number): number;
  /** Charges `n` bytes only if the tokens are there now; false: do not send (datagrams are dropped). */
  tryTake(n: number): boolean;
}

/** 1 Mbps is 10^6 bits per second. */
export const bytesPerSecondOfMbps = (mbps: number): number => (mbps * 1_000_000) / 8;

/**
 * The burst when none is configured: 100 ms at the rate, at least 64 KiB (one socket read), so a timer
 * that wakes a millisecond late does not lower a fast cap, and a slow cap still passes whole reads.
 */
export function defaultBurstBytes(bytesPerSecond: number): number {
  return Math.max(65_536, Math.ceil(bytesPerSecond / 10));
}

export function createBucket(opts: { bytesPerSecond: number; burstBytes: number; now: Ticks }): Bucket {
  const { bytesPerSecond, burstBytes, now } = opts;
  const perMs = bytesPerSecond / 1000;
  let tokens = burstBytes;
  let last = now();
  const refill = () => {
    const t = now();
    if (t > last) tokens = Math.min(burstBytes, tokens + (t - last) * perMs);
    last = t;
  };
  return {
    bytesPerSecond,
    burstBytes,
    take(n) {
      refill();
      tokens -= n;
      return tokens >= 0 ? 0 : Math.ceil(-tokens / perMs);
    },
    tryTake(n) {
      refill();
      if (tokens < n) return false;
      tokens -= n;
      return true;
    },
  };
}
