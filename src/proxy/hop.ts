/**
 * Hop-by-hop headers (RFC 9110 7.6.1): they describe one connection and must not be forwarded. Removing the
 * client's `Connection: close` is what keeps the pooled connection to the VM alive when a client closes its own.
 */

const ALWAYS = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'transfer-encoding', 'upgrade', 'trailer'];

type Headers = Record<string, string | string[] | undefined>;

/**
 * Removes hop-by-hop headers from a request about to be forwarded and returns the client's Connection value
 * (undefined when absent). `keepUpgrade` leaves Connection/Upgrade for a WebSocket handshake.
 */
export function stripHopByHop(h: Headers, keepUpgrade: boolean): string | undefined {
  const conn = h['connection'];
  const connection = Array.isArray(conn) ? conn.join(', ') : conn;
  if (connection !== undefined) {
    // Fields named in Connection are hop-by-hop too (RFC 9110 7.6.1).
    for (const raw of connection.split(',')) {
      const name = raw.trim().toLowerCase();
      if (name && name !== 'close' && name !== 'keep-alive' && !(keepUpgrade && name === 'upgrade')) delete h[name];
    }
  }
  for (const name of ALWAYS) {
    if (keepUpgrade && (name === 'connection' || name === 'upgrade')) continue;
    if (h[name] !== undefined) delete h[name];
  }
  // TE is hop-by-hop; "trailers" alone is passed on because gRPC needs it.
  const te = h['te'];
  if (te !== undefined && te !== 'trailers') delete h['te'];
  return connection;
}

/** Removes hop-by-hop headers from a VM's response before it is relayed. */
export function stripResponseHopByHop(h: Headers): void {
  const conn = h['connection'];
  const connection = Array.isArray(conn) ? conn.join(', ') : conn;
  if (connection !== undefined) {
    for (const raw of connection.split(',')) {
      const name = raw.trim().toLowerCase();
      if (name && name !== 'close' && name !== 'keep-alive') delete h[name];
    }
    delete h['connection'];
  }
  if (h['keep-alive'] !== undefined) delete h['keep-alive'];
  if (h['proxy-connection'] !== undefined) delete h['proxy-connection'];
}
