/**
 * The relay of an upgraded (WebSocket) pair once the handshake is done: two sockets and a few fields. Each
 * direction moves chunks with backpressure (the source pauses while the destination's buffer is full),
 * charges them to the route's bandwidth caps when it has any (the source pauses until the buckets allow
 * more), and follows the frame boundaries (ws-frames.ts) so that going away can put a Close frame between
 * two frames. The handlers are module functions bound to the socket they listen on, and find their
 * direction through a symbol: an idle pair holds no closure of its own, which is what keeps thousands of
 * idle WebSockets cheap.
 */
import type { Socket } from 'node:net';
import { charge, NO_CAP, type Cap, type Caps } from '../policy/throttle.ts';
import { CLOSE_GOING_AWAY, closeFrame, createFrameTracker, type FrameTracker } from './ws-frames.ts';

interface Direction {
  readonly src: Socket;
  readonly dst: Socket;
  /** The Close frame to `dst` is masked when `dst` is the VM (the edge is its client). */
  readonly masked: boolean;
  readonly frames: FrameTracker;
  readonly cap: Cap;
  drainWait: boolean;
  timer: NodeJS.Timeout | null;
  /** Going away: relay up to the next frame boundary, then the Close frame, then nothing. */
  closing: boolean;
  closeSent: boolean;
}

/** What the owner of a pair (the registry) is told. */
export interface RelayOwner {
  /** A side closed or failed. */
  sideClosed(pair: RelayPair, side: Socket, failed: boolean): void;
}

/**
 * The one property the edge sets on a relayed socket (the registry uses the same slot while it waits for
 * the VM): one added field keeps V8's object shape; several, or a delete, turn a socket into a dictionary.
 */
export const kLink: unique symbol = Symbol('idcs-edge.link');
type RelaySocket = Socket & { [kLink]?: unknown };

const pairOf = (s: RelaySocket): RelayPair | null => (s[kLink] instanceof RelayPair ? s[kLink] : null);
/** The direction `s` reads for (its data goes out through it). */
const outOf = (p: RelayPair, s: Socket): Direction => (s === p.client ? p.dirs[0] : p.dirs[1]);
/** The direction that writes into `s`. */
const inOf = (p: RelayPair, s: Socket): Direction => (s === p.client ? p.dirs[1] : p.dirs[0]);

function resumeIfFree(d: Direction): void {
  if (!d.drainWait && d.timer === null && !d.src.destroyed) d.src.resume();
}

function onTimer(d: Direction): void {
  d.timer = null;
  resumeIfFree(d);
}

function sendClose(d: Direction): void {
  d.closeSent = true;
  d.dst.write(closeFrame(CLOSE_GOING_AWAY, d.masked));
  d.dst.end();
}

function onData(this: RelaySocket, chunk: Buffer): void {
  const p = pairOf(this);
  if (!p) return;
  const d = outOf(p, this);
  let part = chunk;
  if (d.closing) {
    if (d.closeSent) return; // after our Close nothing more may be sent that way (RFC 6455 5.5.1)
    const at = d.frames.boundaryIn(chunk);
    if (at !== -1) part = chunk.subarray(0, at);
    if (part.length) {
      d.frames.push(part);
      d.dst.write(part);
    }
    if (at !== -1) sendClose(d);
    return;
  }
  d.frames.push(chunk);
  if (!d.dst.write(part)) {
    d.drainWait = true;
    this.pause();
  }
  if (d.cap.length > 0) {
    const wait = charge(d.cap, part.length);
    if (wait > 0 && d.timer === null) {
      this.pause();
      d.timer = setTimeout(onTimer, wait, d);
    }
  }
}

function onDrain(this: RelaySocket): void {
  const p = pairOf(this);
  if (!p) return;
  const d = inOf(p, this);
  d.drainWait = false;
  resumeIfFree(d);
}

/** A side's read half ended (a half-close): passed on, unless going away already ends the other side. */
function onEnd(this: RelaySocket): void {
  const p = pairOf(this);
  if (!p) return;
  const d = outOf(p, this);
  if (!d.closing) d.dst.end();
}

function onClose(this: RelaySocket): void {
  const p = pairOf(this);
  if (p) p.owner.sideClosed(p, this, false);
}

function onError(this: RelaySocket): void {
  const p = pairOf(this);
  if (p) p.owner.sideClosed(p, this, true);
}

/** An upgraded pair under relay. */
export class RelayPair {
  readonly client: Socket;
  readonly upstream: Socket;
  readonly owner: RelayOwner;
  /** Client to VM, then VM to client. */
  readonly dirs: readonly [Direction, Direction];
  goingAway = false;

  constructor(client: Socket, upstream: Socket, caps: Caps | null, owner: RelayOwner) {
    this.client = client;
    this.upstream = upstream;
    this.owner = owner;
    const dir = (src: Socket, dst: Socket, masked: boolean, cap: Cap): Direction =>
      ({ src, dst, masked, frames: createFrameTracker(), cap, drainWait: false, timer: null, closing: false, closeSent: false });
    const up = dir(client, upstream, true, caps?.ingress ?? NO_CAP);
    const down = dir(upstream, client, false, caps?.egress ?? NO_CAP);
    this.dirs = [up, down];
    const c = client as RelaySocket;
    const u = upstream as RelaySocket;
    c[kLink] = this;
    u[kLink] = this;
    for (const s of [c, u]) {
      s.on('data', onData);
      s.on('drain', onDrain);
      s.on('end', onEnd);
      s.on('close', onClose);
      s.on('error', onError);
    }
    // Whatever piped these before (or unpipe()) left them paused: they flow now.
    c.resume();
    u.resume();
  }

  /** Tells both sides the edge is going away: each direction ends at its next frame boundary with 1001. */
  goAway(): void {
    if (this.goingAway) return;
    this.goingAway = true;
    for (const d of this.dirs) {
      d.closing = true;
      if (d.timer !== null) { clearTimeout(d.timer); d.timer = null; }
      d.drainWait = false;
      d.src.resume();
      if (d.frames.atBoundary()) sendClose(d);
    }
  }

  /** Stops every timer (the pair is being destroyed). */
  stop(): void {
    for (const d of this.dirs) if (d.timer !== null) { clearTimeout(d.timer); d.timer = null; }
  }
}
