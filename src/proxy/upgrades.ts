/**
 * The registry of upgraded (WebSocket) connections. Each entry is a client socket and, once the VM accepted
 * the upgrade, the VM-side socket. Whichever side errors or closes, both are destroyed together (the library
 * only `end()`s the other side, which can leave a half-open socket behind). Shutdown and reloads use the
 * registry to close what must go; tests use `count()` to prove nothing leaks.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export interface UpgradeInfo {
  readonly host: string;
  readonly poolKey: string;
}

interface Entry {
  readonly client: Duplex;
  upstream: Socket | null;
  readonly info: UpgradeInfo;
}

export interface UpgradeRegistry {
  /** Starts tracking a client socket whose upgrade is being proxied. */
  track(client: Duplex, info: UpgradeInfo): void;
  /** Records the VM-side socket once the VM switched protocols. */
  pair(client: Duplex, upstream: Socket): void;
  /** true once the VM side of `client`'s pair is known (the upgrade went through). */
  isPaired(client: Duplex): boolean;
  count(): number;
  /** Destroys every pair for which `keep` is false; returns how many went. */
  prune(keep: (info: UpgradeInfo) => boolean): number;
  closeAll(): void;
}

export function createUpgradeRegistry(): UpgradeRegistry {
  const entries = new Map<Duplex, Entry>();

  const destroyEntry = (e: Entry) => {
    entries.delete(e.client);
    e.client.destroy();
    e.upstream?.destroy();
  };

  return {
    track(client, info) {
      const e: Entry = { client, upstream: null, info };
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
      const done = () => destroyEntry(e);
      upstream.once('close', done);
      upstream.once('error', done);
    },
    isPaired: (client) => entries.get(client)?.upstream != null,
    count: () => entries.size,
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
