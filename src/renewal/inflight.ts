/**
 * Single flight per certificate name: a second attempt at a name in this process joins the attempt in
 * flight and gets its result, instead of queueing on the name's lock behind itself. At start the renewal
 * scan and the on-demand request both ask for every missing name, and a "renew now" can arrive while the
 * cron scan works on the same name; without this the second one waited for the process's own lock for
 * the whole lock wait and then failed EDGE_ERR_CERT_LOCKED. Other processes are still kept out by the
 * lock itself. One instance per control plane (built in the composition root), never module state.
 */

export interface InFlight<T> {
  /** Runs `fn` for `key`, or returns the promise of the run for `key` already in flight. */
  run(key: string, fn: () => Promise<T>): Promise<T>;
  /** true while a run for `key` is in flight. */
  has(key: string): boolean;
}

export function createInFlight<T>(): InFlight<T> {
  const running = new Map<string, Promise<T>>();
  return {
    run(key, fn) {
      const current = running.get(key);
      if (current) return current;
      const p = fn().finally(() => running.delete(key));
      running.set(key, p);
      return p;
    },
    has: (key) => running.has(key),
  };
}
