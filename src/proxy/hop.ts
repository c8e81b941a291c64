/**
 * Hop-by-hop headers (RFC 9110 7.6.1): they describe one connection and must not be forwarded. Removing the
 * client's `Connection: close` is what keeps the pooled connection to the VM alive when a client closes its own.
 */

const ALWAYS = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'transfer-encoding', 'upgrade', 'trailer'];

type Headers = Record<string, string | string[] | undefined>;

/**
 * Headers a client may list in Connection without the edge dropping them. Framing headers decide where the
 * request ends (stripping them while forwarding the body lets the body reach the VM as a second request
 * that never passed the edge: request smuggling); Host and the forwarding headers are the edge's to set.
 */
const NEVER_NAMED = new Set(['host', 'content-length', 'transfer-encoding', 'x-forwarded-for', 'x-forwarded-proto',
  'x-forwarded-host', 'x-forwarded-port', 'forwarded', 'x-request-id']);

/**
 * Removes hop-by-hop headers from a request about to be forwarded and returns the client's Connection value
 * (undefined when absent). `keepUpgrade` leaves Connection/Upgrade for a WebSocket handshake.
 * The body keeps its framing: a request that arrived chunked is forwarded chunked (Node re-encodes the
 * chunks it parsed), one with Content-Length keeps it, so the VM always knows where the request ends.
 */
export function stripHopByHop(h: Headers, keepUpgrade: boolean): string | undefined {
  const conn = h['connection'];
  const connection = Array.isArray(conn) ? conn.join(', ') : conn;
  if (connection !== undefined) {
    // Fields named in Connection are hop-by-hop too (RFC 9110 7.6.1), except those that frame the message.
    for (const raw of connection.split(',')) {
      const name = raw.trim().toLowerCase();
      if (name && name !== 'close' && name !== 'keep-alive' && !NEVER_NAMED.has(name) && !(keepUpgrade && name === 'upgrade')) delete h[name];
    }
  }
  // Node's parser refuses a request with both lengths or a Transfer-Encoding whose last coding is not
  // chunked, and the target check (target.ts) refuses any other coding before this step, so a
  // Transfer-Encoding here means a chunked body (RFC 9112 6.1).
  const chunked = h['transfer-encoding'] !== undefined;
  for (const name of ALWAYS) {
    if (keepUpgrade && (name === 'connection' || name === 'upgrade')) continue;
    if (h[name] !== undefined) delete h[name];
  }
  if (chunked) {
    h['transfer-encoding'] = 'chunked';
    delete h['content-length'];
  }
  // TE is hop-by-hop; "trailers" alone is passed on because gRPC needs it.
  const te = h['te'];
  if (te !== undefined && te !== 'trailers') delete h['te'];
  return connection;
}

/**
 * The VM's raw response headers (`[name, value, name, value, ...]`, case and repeats kept) without the
 * hop-by-hop ones, without Transfer-Encoding, whose framing is ours to choose for our client, and without
 * X-Request-Id, which the edge sets to the ID the VM received (and, with `dropSts`, without the VM's
 * Strict-Transport-Security, which the proxy's `hsts` replaces). Built as a
 * new flat array: deleting keys from a headers object would push V8 into slow dictionary-mode objects on
 * every response.
 */
export function forwardableResponseHeaders(raw: readonly string[], dropSts = false): string[] {
  let extra: Set<string> | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 10 && raw[i]!.toLowerCase() === 'connection') {
      for (const t of raw[i + 1]!.split(',')) {
        const name = t.trim().toLowerCase();
        if (name && name !== 'close' && name !== 'keep-alive') (extra ??= new Set()).add(name);
      }
    }
  }
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (lower === 'connection' || lower === 'keep-alive' || lower === 'proxy-connection' || lower === 'transfer-encoding'
      || lower === 'x-request-id' || (extra !== null && extra.has(lower)) || (dropSts && lower === 'strict-transport-security')) continue;
    out.push(name, raw[i + 1]!);
  }
  return out;
}
