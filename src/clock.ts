/** Time as the parts that care about it see it; tests pass a fake clock instead of waiting. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = Object.freeze({ now: () => new Date() });

/** A clock that only moves when told to. */
export function fixedClock(start: Date | string): Clock & { set(d: Date | string): void; advanceDays(n: number): void } {
  let t = new Date(start).getTime();
  return {
    now: () => new Date(t),
    set: (d) => { t = new Date(d).getTime(); },
    advanceDays: (n) => { t += n * 86_400_000; },
  };
}

/** Milliseconds on a monotonic clock, for rates (token buckets) and short deadlines; tests pass a fake one. */
export type Ticks = () => number;

export const systemTicks: Ticks = () => performance.now();

/** A monotonic clock that only moves when told to. */
export function fakeTicks(start = 0): Ticks & { advance(ms: number): void } {
  let t = start;
  return Object.assign(() => t, { advance: (ms: number) => { t += ms; } });
}
