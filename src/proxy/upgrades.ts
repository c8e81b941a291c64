/**
 * The registry of upgraded (WebSocket) connections. Each entry is a client socket and, once the VM accepted
 * the upgrade, the relayed pair (relay.ts). Whichever side errors or closes, both are destroyed together.
 * Shutdown and reloads use the registry to close what must go; tests use `count()` to prove nothing leaks.
 * The bytes a pair moves after its handshake are counted on the client's socket and reported to `onBytes`
 * when the pair closes, and by `sweepBytes()` while it is open (traffic statistics and quotas must see
 * long-lived connections).
 *
 * Closing (a reload that removes or re-homes a route, shutdown) does not just cut a pair, which clients
 * see as 1006 "abnormal closure": the relay stops at the next frame boundary of each direction, and each
 * side gets a Close frame with 1001 Going Away (RFC 6455 5.5.1, 7.4.1), unmasked to the client as a server
 * writes it and masked to the VM as a client must; then the pair is ended, and destroyed once both sides
 * closed or its deadline passed. Handlers are module functions bound to their socket (no closure per
 * connection), as in relay.ts.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Caps } from '../policy/throttle.ts';
import type { Match } from '../routing/table.ts';
import { kLink, RelayPair, type RelayOwner } from './relay.ts';

export interface UpgradeInfo {
  readonly host: string;
  readonly poolKey: string;
  /** The route match the upgrade was proxied for (whose proxy and VM its bytes count for). */
  readonly match: Match;
}

interface Entry {
  readonly client: Duplex;
  relay: RelayPair | null;
  readonly info: UpgradeInfo;
  /** The client socket's bytesRead / bytesWritten already reported (the handshake's are the request's). */
  read: number;
  written: number;
  /** Asked to close (prune or closeAll): it goes away once paired, if it is not yet. */
  closing: boolean;
  timer: NodeJS.Timeout | null;
}

export interface UpgradeRegistry {
  /** Starts tracking a client socket whose upgrade is being proxied. */
  track(client: Duplex, info: UpgradeInfo): void;
  /** Relays the pair once the VM switched protocols (under `caps`, when the route has any). */
  pair(client: Duplex, upstream: Socket, caps: Caps | null): void;
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
type TrackedEntry = Entry & { destroy(e: Entry): void };
type Tracked = Duplex & { [kLink]?: unknown };

/** Before the VM answered, the client's socket going away ends the entry (the registry's, in the link slot). */
function onTrackedEnd(this: Tracked): void {
  const e = this[kLink] as TrackedEntry | undefined;
  if (e && !(e instanceof RelayPair)) e.destroy(e);
}

/** `onBytes` gets the bytes a pair read from (in) and wrote to (out) its client since the last report. */
export function createUpgradeRegistry(opts: { onBytes?(info: UpgradeInfo, bytesIn: number, bytesOut: number): void } = {}): UpgradeRegistry {
  const entries = new Map<Duplex, Entry>();
  /** Once closeAll ran: when every entry must be gone. */
  let deadline: number | null = null;
  let onEmpty: Array<() => void> = [];

  const report = (e: Entry) => {
    if (e.relay === null || !opts.onBytes) return;
    const s = e.client as Socket;
    const read = s.bytesRead ?? 0;
    const written = s.bytesWritten ?? 0;
    if (read === e.read && written === e.written) return;
    opts.onBytes(e.info, read - e.read, written - e.written);
    e.read = read;
    e.written = written;
  };

  const destroyEntry = (e: Entry) => {
    if (!entries.delete(e.client)) return;
    if (e.timer) clearTimeout(e.timer);
    e.relay?.stop();
    e.client.destroy();
    e.relay?.upstream.destroy();
    report(e);
    if (entries.size === 0) {
      const waiting = onEmpty;
      onEmpty = [];
      for (const w of waiting) w();
    }
  };

  const armDeadline = (e: Entry, at: number) => {
    if (e.timer) clearTimeout(e.timer);
    e.timer = setTimeout(destroyEntry, Math.max(0, at - Date.now()), e);
    e.timer.unref();
  };

  const owner: RelayOwner = {
    /**
     * One side closed. While going away the other side may still be flushing the last frames and the Close
     * frame: it is ended, not destroyed, and goes when it closes too or at the deadline.
     */
    sideClosed(pair, side, failed) {
      const e = entries.get(pair.client);
      if (!e) return;
      const other = side === pair.client ? pair.upstream : pair.client;
      if (failed || !pair.goingAway || other.destroyed || other.closed) {
        destroyEntry(e);
        return;
      }
      other.end();
    },
  };

  const goAway = (e: Entry) => {
    e.closing = true;
    e.relay?.goAway();
  };

  return {
    track(client, info) {
      const e = { client, relay: null, info, read: 0, written: 0, closing: deadline !== null, timer: null, destroy: destroyEntry };
      entries.set(client, e);
      (client as Tracked)[kLink] = e;
      client.once('close', onTrackedEnd);
      client.once('error', onTrackedEnd);
      if (deadline !== null) armDeadline(e, deadline);
    },
    pair(client, upstream, caps) {
      const e = entries.get(client);
      if (!e) {
        upstream.destroy();
        return;
      }
      client.off('close', onTrackedEnd);
      client.off('error', onTrackedEnd);
      // From here on the bytes are the WebSocket's; what came before was the handshake request's.
      e.read = (client as Socket).bytesRead ?? 0;
      e.written = (client as Socket).bytesWritten ?? 0;
      e.relay = new RelayPair(client as Socket, upstream, caps, owner);
      if (e.closing) e.relay.goAway();
    },
    isPaired: (client) => entries.get(client)?.relay != null,
    count: () => entries.size,
    countByProxy() {
      const out = new Map<string, number>();
      for (const e of entries.values()) {
        if (e.relay !== null) out.set(e.info.match.route.domain, (out.get(e.info.match.route.domain) ?? 0) + 1);
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
        armDeadline(e, Date.now() + DEFAULT_CLOSE_MS);
        goAway(e);
      }
      return n;
    },
    closeAll(withinMs) {
      if (withinMs !== undefined || deadline === null) {
        const next = Date.now() + (withinMs ?? DEFAULT_CLOSE_MS);
        deadline = deadline === null ? next : Math.min(deadline, next);
      }
      for (const e of [...entries.values()]) {
        armDeadline(e, deadline!);
        goAway(e);
      }
    },
    idle(withinMs) {
      if (entries.size === 0) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.max(0, withinMs));
        function done() { clearTimeout(timer); onEmpty = onEmpty.filter((w) => w !== done); resolve(); }
        onEmpty.push(done);
      });
    },
  };
}
