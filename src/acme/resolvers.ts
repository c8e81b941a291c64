/**
 * The DNS the self-check asks: the servers in `acme.resolvers`, or the system's. Every query has a timeout
 * and a number of tries (node:dns Resolver), and is cancelled when the caller's signal aborts, so a
 * resolver that does not answer costs seconds, never the minutes of getaddrinfo's retries. Without
 * resolvers, A/AAAA come from the system lookup (getaddrinfo, /etc/hosts included), raced with the signal.
 */
import dns from 'node:dns';
import { isIP } from 'node:net';
import { parseResolver } from './config.ts';

export interface SelfCheckDns {
  /** Who is asked, for messages: `127.0.0.1:5353 (acme.resolvers)` or `the system's resolvers (10.0.0.53)`. */
  describe(): string;
  /** The addresses of `name`, IPv6 first as Let's Encrypt tries them; rejects with the resolver's error when there are none. */
  addresses(name: string, signal: AbortSignal): Promise<string[]>;
  /** The TXT strings at `name` (each record's chunks joined); rejects with the resolver's error (ENODATA, ETIMEOUT, ...). */
  txt(name: string, signal: AbortSignal): Promise<string[]>;
}

/** `[v6]:port` or `v4:port`, the form Resolver.setServers takes. */
function serverAddress(s: string): string {
  const r = parseResolver(s)!;
  return isIP(r.host) === 6 ? `[${r.host}]:${r.port}` : `${r.host}:${r.port}`;
}

/** `p`, rejecting with the signal's reason as soon as it aborts; `onAbort` cancels the work. */
function abortable<T>(p: Promise<T>, signal: AbortSignal, onAbort: () => void): Promise<T> {
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const stop = () => { onAbort(); reject(signal.reason); };
    signal.addEventListener('abort', stop, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', stop));
  });
}

/** Resolvers for the self-check; `queryTimeoutMs` bounds one query (two tries). */
export function createSelfCheckDns(resolvers: readonly string[], queryTimeoutMs: number): SelfCheckDns {
  const servers = resolvers.map(serverAddress);
  const resolver = () => {
    const r = new dns.promises.Resolver({ timeout: queryTimeoutMs, tries: 2 });
    if (servers.length > 0) r.setServers(servers);
    return r;
  };
  return {
    describe: () => (servers.length > 0 ? `${servers.join(', ')} (acme.resolvers)` : `the system's resolvers (${resolver().getServers().join(', ') || 'none'})`),
    async addresses(name, signal) {
      if (servers.length === 0) {
        const found = await abortable(dns.promises.lookup(name, { all: true, order: 'ipv6first' }), signal, () => {});
        return found.map((a) => a.address);
      }
      const r = resolver();
      const [v6, v4] = await abortable(Promise.allSettled([r.resolve6(name), r.resolve4(name)]), signal, () => r.cancel());
      const found = [...(v6.status === 'fulfilled' ? v6.value : []), ...(v4.status === 'fulfilled' ? v4.value : [])];
      if (found.length > 0) return found;
      // Both failed or were empty: the IPv4 answer says more (most names have an A record).
      throw v4.status === 'rejected' ? v4.reason : Object.assign(new Error(`no A/AAAA record for ${name}`), { code: 'ENODATA' });
    },
    async txt(name, signal) {
      const r = resolver();
      const records = await abortable(r.resolveTxt(name), signal, () => r.cancel());
      return records.map((chunks) => chunks.join(''));
    },
  };
}
