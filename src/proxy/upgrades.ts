/**
 * The registry of upgraded (WebSocket) connections. Each entry is a client socket and, once the VM accepted
 * the upgrade, the VM-side socket. Whichever side errors or closes, both are destroyed together (the library
 * only `end()`s the other side, which can leave a half-open socket behind). Shutdown and reloads use the
 * registry to close what must go; tests use `count()` to prove nothing leaks. The bytes a pair moves after
 * its handshake are counted on the client's socket and reported to `onBytes` when the pair closes, and by
 * `sweepBytes()` while it is open (traffic statistics and quotas must see long-lived connections).
 *
 * Closing (a reload that removes or re-homes a route, shutdown) does not just cut a pair, which clients
 * see as 1006 "abnormal closure": the relay stops at the next frame boundary of each direction, and each
 * side gets a Close frame with 1001 Going Away (RFC 6455 5.5.1, 7.4.1), unmasked to the client as a server
 * writes it and masked to the VM as a client must; then the pair is ended, and destroyed once both sides
 * closed or its deadline passed.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Match } from '../routing/table.ts';
import { CLOSE_GOING_AWAY, closeFrame, createFrameTracker, type FrameTracker } from './ws-frames.ts';

export interface UpgradeInfo {
  readonly host: string;
  readonly poolKey: string;
  /** The route match the upgrade was proxied for (whose proxy and VM its bytes count for). */
  readonly match: Match;
}

/** One direction of a pair: frames read from `source` are relayed (by the library's pipe) to `dest`. */
interface Direction {
  readonly source: Duplex;
  readonly dest: Duplex;
  /** The Close frame to `dest` is masked when `dest` is the VM (we are its client). */
  readonly masked: boolean;
  readonly frames: FrameTracker;
  /** Set on shutdown: the library's pipe is gone and this relays up to the next frame boundary. */
  relaying: boolean;
  closeSent: boolean;
}

interface Entry {
  readonly client: Duplex;
  upstream: Socket | null;
  readonly info: UpgradeInfo;
  /** The client socket's bytesRead / bytesWritten already reported (the handshake's are the request's). */
  read: number;
  written: number;
  directions: readonly Direction[] | null;
  /** Asked to close (prune or closeAll): it goes away once paired, if it is not yet. */
  closing: boolean;
  goingAway: boolean;
  timer: NodeJS.Timeout | null;
}

export interface UpgradeRegistry {
  /** Starts tracking a client socket whose upgrade is being proxied. */
  track(client: Duplex, info: UpgradeInfo): void;
  /** Records the VM-side socket once the VM switched protocols. */
  pair(client: Duplex, upstream: Socket): void;
  /** true once the VM side of `client`'s pair is known (the upgrade went through). */
  isPaired(client: Duplex): boolean;
  count(): number;
  /** Open (paired) WebSockets per proxy domain. */
  countByProxy(): Map<string, number>;
  /** Reports the bytes each open pair moved since it was last reported. */
  sweepBytes(): void;
  /** Closes every pair for which `keep` is false (1001 to both sides, destroyed after 1 s at most); returns how many. */
  prune(keep: (info: UpgradeInfo) => boolean): number;
  /**
   * Tells every WebSocket the edge is going away (1001 to both sides, see the module comment) and destroys
   * what is still open after `withinMs` (default: the deadline an earlier call set, else 1 s). Upgrades
   * still waiting for their VM get the same once they go through.
   */
  closeAll(withinMs?: number): void;
  /** Resolves when no pair is left, or after `withinMs`: what a drain waits for before cutting the rest. */
  idle(withinMs: number): Promise<void>;
}

const DEFAULT_CLOSE_MS = 1000;

/** `onBytes` gets the bytes a pair read from (in) and wrote to (out) its client since the last report. */
export function createUpgradeRegistry(opts: { onBytes?(info: UpgradeInfo, bytesIn: number, bytesOut: number): void } = {}): UpgradeRegistry {
  const entries = new Map<Duplex, Entry>();
  /** Once closeAll ran: when every entry must be gone. */
  let deadline: number | null = null;

  const report = (e: Entry) => {
    if (e.upstream === null || !opts.onBytes) return;
    const s = e.client as Socket;
    const read = s.bytesRead ?? 0;
    const written = s.bytesWritten ?? 0;
    if (read === e.read && written === e.written) return;
    opts.onBytes(e.info, read - e.read, written - e.written);
    e.read = read;
    e.written = written;
  };

  let onEmpty: Array<() => void> = [];

  const destroyEntry = (e: Entry) => {
    if (!entries.delete(e.client)) return;
    if (e.timer) clearTimeout(e.timer);
    e.client.destroy();
    e.upstream?.destroy();
    report(e);
    if (entries.size === 0) {
      const waiting = onEmpty;
      onEmpty = [];
      for (const w of waiting) w();
    }
  };

  /**
   * One side closed. While going away the other side may still be flushing the last frames and the Close
   * frame: it is ended, not destroyed, and goes when it closes too or at the deadline.
   */
  const sideClosed = (e: Entry, other: Duplex | null) => {
    if (!e.goingAway || !other || other.destroyed) {
      destroyEntry(e);
      return;
    }
    other.end();
    if (other.closed) destroyEntry(e);
    else other.once('close', () => destroyEntry(e));
  };

  const armDeadline = (e: Entry, at: number) => {
    if (e.timer) clearTimeout(e.timer);
    e.timer = setTimeout(() => destroyEntry(e), Math.max(0, at - Date.now()));
    e.timer.unref();
  };

  const sendClose = (d: Direction) => {
    d.closeSent = true;
    d.dest.write(closeFrame(CLOSE_GOING_AWAY, d.masked));
    d.dest.end();
  };

  /** The one 'data' listener of a direction: follows frames while the library relays, relays itself on shutdown. */
  const onData = (d: Direction, chunk: Buffer) => {
    if (!d.relaying) {
      d.frames.push(chunk);
      return;
    }
    if (d.closeSent) return; // after our Close, nothing more may be sent that way (RFC 6455 5.5.1)
    const at = d.frames.boundaryIn(chunk);
    const part = at === -1 ? chunk : chunk.subarray(0, at);
    if (part.length) {
      d.frames.push(part);
      d.dest.write(part);
    }
    if (at !== -1) sendClose(d);
  };

  const goAway = (e: Entry) => {
    if (e.goingAway || !e.directions) return;
    e.goingAway = true;
    for (const d of e.directions) {
      d.source.unpipe(d.dest);
      d.relaying = true;
      // unpipe() paused the source; our listener reads on up to the boundary (and drops what follows).
      d.source.resume();
      if (d.frames.atBoundary()) sendClose(d);
    }
  };

  return {
    track(client, info) {
      const e: Entry = { client, upstream: null, info, read: 0, written: 0, directions: null, closing: deadline !== null, goingAway: false, timer: null };
      entries.set(client, e);
      client.once('close', () => sideClosed(e, e.upstream));
      client.once('error', () => destroyEntry(e));
      if (deadline !== null) armDeadline(e, deadline);
    },
    pair(client, upstream) {
      const e = entries.get(client);
      if (!e) {
        upstream.destroy();
        return;
      }
      e.upstream = upstream;
      // From here on the bytes are the WebSocket's; what came before was the handshake request's.
      e.read = (client as Socket).bytesRead ?? 0;
      e.written = (client as Socket).bytesWritten ?? 0;
      upstream.once('close', () => sideClosed(e, e.client));
      upstream.once('error', () => destroyEntry(e));
      // The library pipes the pair right after this returns, and the streams start flowing on a later
      // tick: listening from the next tick on sees every chunk from the first frame, without making either
      // stream flow before its pipe exists (which would lose data).
      process.nextTick(() => {
        if (!entries.has(client)) return;
        const dir = (source: Duplex, dest: Duplex, masked: boolean): Direction => {
          const d: Direction = { source, dest, masked, frames: createFrameTracker(), relaying: false, closeSent: false };
          source.on('data', (chunk: Buffer) => onData(d, chunk));
          return d;
        };
        e.directions = [dir(upstream, client, false), dir(client, upstream, true)];
        if (e.closing) goAway(e);
      });
    },
    isPaired: (client) => entries.get(client)?.upstream != null,
    count: () => entries.size,
    countByProxy() {
      const out = new Map<string, number>();
      for (const e of entries.values()) {
        if (e.upstream !== null) out.set(e.info.match.route.domain, (out.get(e.info.match.route.domain) ?? 0) + 1);
      }
      return out;
    },
    sweepBytes() {
      for (const e of entries.values()) report(e);
    },
    prune(keep) {
      let n = 0;
      for (const e of [...entries.values()]) {
        if (keep(e.info) || e.closing) continue;
        n++;
        // An upgrade still waiting for its VM is told as soon as it goes through (pair()).
        e.closing = true;
        armDeadline(e, Date.now() + DEFAULT_CLOSE_MS);
        goAway(e);
      }
      return n;
    },
    idle(withinMs) {
      if (entries.size === 0) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.max(0, withinMs));
        function done() { clearTimeout(timer); onEmpty = onEmpty.filter((w) => w !== done); resolve(); }
        onEmpty.push(done);
      });
    },
    closeAll(withinMs) {
      if (withinMs !== undefined || deadline === null) {
        const next = Date.now() + (withinMs ?? DEFAULT_CLOSE_MS);
        deadline = deadline === null ? next : Math.min(deadline, next);
      }
      for (const e of [...entries.values()]) {
        e.closing = true;
        armDeadline(e, deadline!);
        goAway(e);
      }
    },
  };
}
