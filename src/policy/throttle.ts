/**
 * Piping under a bandwidth cap. `pipeCapped` does what `src.pipe(dst)` does (backpressure: the source
 * pauses while the destination's buffer is full; the source's end ends the destination, so a half-close
 * passes through) and charges every chunk to the cap's buckets; when they run dry the source is paused
 * until they allow more, so a capped stream slows down through TCP's own flow control and the edge holds
 * nothing beyond the chunk it just read. Uncapped streams keep Node's own pipe (no per-chunk work).
 */
import type { Readable, Writable } from 'node:stream';
import type { Bucket } from './bucket.ts';

/** The buckets one direction of a stream is charged to (its proxy's or forward's, and its VM's). */
export type Cap = readonly Bucket[];
/** No cap: every bucket list that is empty can be this one. */
export const NO_CAP: Cap = Object.freeze([]);

/** Both directions: ingress is client to VM, egress VM to client. Empty arrays: that direction is not capped. */
export interface Caps {
  readonly ingress: Cap;
  readonly egress: Cap;
}

/** The longest pause (ms) any bucket asks for after `n` bytes (each bucket is charged). */
export function charge(cap: Cap, n: number): number {
  let wait = 0;
  for (const b of cap) {
    const w = b.take(n);
    if (w > wait) wait = w;
  }
  return wait;
}

/**
 * Pipes `src` into `dst` under `cap` (plain `pipe` when the cap is empty); `end: false` leaves `dst` open
 * when `src` ends. Errors are the caller's: it destroys both sides.
 */
export function pipeCapped(src: Readable, dst: Writable, cap: Cap, opts: { end?: boolean } = {}): void {
  if (cap.length === 0) {
    src.pipe(dst, opts);
    return;
  }
  let drainWait = false;
  let timer: NodeJS.Timeout | null = null;
  const resumeIfFree = () => {
    if (!drainWait && timer === null && !src.destroyed) src.resume();
  };
  const onDrain = () => {
    drainWait = false;
    resumeIfFree();
  };
  const onTimer = () => {
    timer = null;
    resumeIfFree();
  };
  const onData = (chunk: Buffer | string) => {
    const n = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    if (!dst.write(chunk)) {
      drainWait = true;
      src.pause();
      dst.once('drain', onDrain);
    }
    const wait = charge(cap, n);
    if (wait > 0 && timer === null) {
      src.pause();
      timer = setTimeout(onTimer, wait);
    }
  };
  src.on('data', onData);
  const stop = () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    dst.off('drain', onDrain);
  };
  src.once('end', () => {
    stop();
    if (opts.end !== false) dst.end();
  });
  src.once('close', stop);
  // As pipe() does when its destination goes away: stop feeding it.
  dst.once('close', () => {
    stop();
    src.off('data', onData);
    src.pause();
  });
  // A source that was piped elsewhere before (unpipe leaves it paused) flows again.
  src.resume();
}
