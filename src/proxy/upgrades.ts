/**
 * The registry of upgraded (WebSocket) connections. Each entry is a client socket and, once the VM accepted
 * the upgrade, the VM-side socket. Whichever side errors or closes, both are destroyed together (the library
 * only `end()`s the other side, which can leave a half-open socket behind). Shutdown and reloads use the
 * registry to close what must go; tests use `count()` to prove nothing leaks. The bytes a pair moves after
 * its handshake are counted on the client's socket and reported to `onBytes` when the pair closes, and by
 * `sweepBytes()` while it is open (traffic statistics and quotas must see long-lived connections).
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Match } from '../routing/table.ts';

export interface UpgradeInfo {
  readonly host: string;
  readonly poolKey: string;
  /** The route match the upgrade was proxied for (whose proxy and VM its bytes count for). */
  readonly match: Match;
}

interface Entry {
  readonly client: Duplex;
  upstream: Socket | null;
  readonly info: UpgradeInfo;
  /** The client socket's bytesRead / bytesWritten already reported (the handshake's are the request's). */
  read: number;
  written: number;
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
  /** Destroys every pair for which `keep` is false; returns how many went. */
  prune(keep: (info: UpgradeInfo) => boolean): number;
  closeAll(): void;
}

/** `onBytes` gets the bytes a pair read from (in) and wrote to (out) its client since the last report. */
export function createUpgradeRegistry(opts: { onBytes?(info: UpgradeInfo, bytesIn: number, bytesOut: number): void } = {}): UpgradeRegistry {
  const entries = new Map<Duplex, Entry>();

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

  const destroyEntry = (e: Entry) => {
    if (!entries.delete(e.client)) return;
    e.client.destroy();
    e.upstream?.destroy();
    report(e);
  };

  return {
    track(client, info) {
      const e: Entry = { client, upstream: null, info, read: 0, written: 0 };
      entries.set(client, e);
      const done = () => destroyEntry(e);
      client.once('close', done);
      client.once('error', done);
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
      const done = () => destroyEntry(e);
      upstream.once('close', done);
      upstream.once('error', done);
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
        if (!keep(e.info)) {
          destroyEntry(e);
          n++;
        }
      }
      return n;
    },
    closeAll() {
      for (const e of [...entries.values()]) destroyEntry(e);
    },
  };
}
