/**
 * HTTP/2 to clients (RFC 9113) on the HTTPS listener, next to HTTP/1.1 on the same port. ALPN decides per
 * connection (chosen per SNI name: a proxy with `http2: false` gets `http/1.1`). The TLS server stays the
 * node:https server it always was: `http/1.1` connections go to node:http's own connection handling exactly
 * as before (parser, keep-alive, upgrades, the drain's closeIdleConnections), and only `h2` connections are
 * handed to a node:http2 server that never listens itself. node:http2's `allowHTTP1` would also hand
 * HTTP/1.1 to node:http (and emits 'upgrade' in Node 24), but its server lacks what the drain and the
 * inbound limits use on node:http's; this way HTTP/1.1 pays one property read per connection and nothing
 * per request. Upstreams stay HTTP/1.1.
 *
 * Requests of both protocols run through the same pipeline over one RequestContext. The compatibility
 * objects node:http2 makes differ from node:http's where the pipeline looks, so the two classes here adapt
 * them: the request's `headers` are what node:http would give (no pseudo-headers, Host from `:authority`,
 * and a body without Content-Length framed chunked for the VM, which would otherwise not know where it
 * ends), and the response drops what HTTP/2 forbids (a status message, connection-specific headers) and
 * tells an aborted stream (RST_STREAM) from a finished one, which node:http2 reports alike.
 *
 * Limits (config `limits`, `timeouts`): SETTINGS_MAX_CONCURRENT_STREAMS is `limits.maxConcurrentStreams`,
 * SETTINGS_MAX_HEADER_LIST_SIZE `limits.maxHeaderBytes` (a larger header list is refused by node:http2 with
 * RST_STREAM ENHANCE_YOUR_CALM before the pipeline sees it); a session must acknowledge the edge's SETTINGS
 * (RFC 9113 6.5.3: otherwise SETTINGS_TIMEOUT) and open its first stream within `timeouts.requestHeadersMs`,
 * and is closed with GOAWAY after `timeouts.keepAliveMs` without an open stream. Connection admission
 * (per-client and total) happens before TLS, for both protocols alike.
 */
import http2, { type Http2Session, type ServerHttp2Stream } from 'node:http2';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import type { Logger } from '../log.ts';
import type { InboundSettings } from './inbound.ts';

/** Connection-specific headers HTTP/2 forbids (RFC 9113 8.2.2); node:http2 throws on them. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings']);

/**
 * An HTTP/2 request's headers in node:http's shape. RFC 9113 8.3.1: `:authority` stands for Host; a Host
 * that names another authority makes the request malformed, and a second `host` entry in rawHeaders lets
 * the pipeline's Host check refuse it (400).
 */
export function h1HeadersOf(h: IncomingHttpHeaders, endAfterHeaders: boolean): { headers: IncomingHttpHeaders; raw: string[] } {
  const headers: IncomingHttpHeaders = {};
  const raw: string[] = [];
  for (const k in h) {
    if (k.charCodeAt(0) === 58 /* : */) continue;
    const v = h[k]!;
    headers[k] = v;
    if (Array.isArray(v)) for (const x of v) raw.push(k, x);
    else raw.push(k, v);
  }
  const authority = (h as Record<string, string | undefined>)[':authority'];
  if (authority !== undefined) {
    if (headers.host === undefined) raw.push('host', authority);
    else if (headers.host !== authority) raw.push('host', authority);
    headers.host = authority;
  }
  // A body (no END_STREAM on the HEADERS frame) of unknown length: HTTP/2 frames it, HTTP/1.1 to the VM must.
  if (!endAfterHeaders && headers['content-length'] === undefined) headers['transfer-encoding'] = 'chunked';
  return { headers, raw };
}

/** A node:http2 compatibility request whose `headers` and `rawHeaders` are node:http's (see h1HeadersOf). */
export class EdgeH2Request extends http2.Http2ServerRequest {
  constructor(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, options: object, rawHeaders: readonly string[]) {
    super(stream, headers, options as never, rawHeaders);
    const h1 = h1HeadersOf(headers, stream.endAfterHeaders);
    // Own properties shadow the prototype's getters; method and url keep reading the pseudo-headers.
    Object.defineProperty(this, 'headers', { value: h1.headers, writable: true, configurable: true, enumerable: true });
    Object.defineProperty(this, 'rawHeaders', { value: h1.raw, writable: true, configurable: true, enumerable: true });
  }
}

/** The VM's flat header list without what HTTP/2 forbids (TE is allowed as "trailers" only). */
export function h2SafeHeaders(list: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i]!.toLowerCase();
    if (CONNECTION_SPECIFIC.has(name) || (name === 'te' && list[i + 1]!.trim().toLowerCase() !== 'trailers')) continue;
    out.push(name, list[i + 1]!);
  }
  return out;
}

/**
 * A node:http2 compatibility response as the pipeline and forwarder use node:http's: `writeHead` accepts
 * (and drops) a status message and drops connection-specific headers from a flat list; `destroyed` is the
 * stream's; `writableFinished` is true only for an answer that was ended and not reset (node:http2 reports
 * a stream the client reset as finished too).
 */
export class EdgeH2Response extends http2.Http2ServerResponse {
  override writeHead(status: number, a?: string | OutgoingHttpHeaders | readonly string[], b?: OutgoingHttpHeaders | readonly string[]): this {
    const headers = typeof a === 'string' ? b : a;
    // RFC 9113 8.3.2: HTTP/2 has no reason phrase (node:http2 would warn once per process).
    if (headers === undefined) return super.writeHead(status);
    return super.writeHead(status, Array.isArray(headers) ? h2SafeHeaders(headers) : headers as OutgoingHttpHeaders);
  }
}
Object.defineProperty(EdgeH2Response.prototype, 'destroyed', {
  get(this: EdgeH2Response) { return this.stream.destroyed; },
});
Object.defineProperty(EdgeH2Response.prototype, 'writableFinished', {
  get(this: EdgeH2Response) { return this.writableEnded && this.stream.rstCode === http2.constants.NGHTTP2_NO_ERROR; },
});

export interface H2Deps {
  /** Both the request and the CONNECT listener (the pipeline answers CONNECT 501). */
  onRequest(req: EdgeH2Request, res: EdgeH2Response): void;
  /** The running deadlines and limits (read when a session starts). */
  inbound(): InboundSettings;
  readonly log: Logger;
}

export interface H2Front {
  /** Hands `server`'s h2 connections to HTTP/2; call before adding other 'secureConnection' listeners. */
  attach(server: TlsServer): void;
  /** Applies the limits to sessions that start from now on (an apply's commit). */
  update(s: InboundSettings): void;
  /** GOAWAY to every session: no new streams, the open ones finish (shutdown). */
  drain(): void;
  /** Destroys every session that is left. */
  destroyAll(): void;
  /** Sessions open now. */
  sessions(): number;
}

function settingsOf(s: InboundSettings): http2.Settings {
  return { maxConcurrentStreams: s.limits.maxConcurrentStreams, maxHeaderListSize: s.limits.maxHeaderBytes, enablePush: false };
}

/** Builds the HTTP/2 side: a node:http2 server fed by attach()ed TLS servers, and its sessions' deadlines. */
export function createH2Front(deps: H2Deps): H2Front {
  const sessions = new Set<Http2Session>();
  const server = http2.createServer({
    Http2ServerRequest: EdgeH2Request as unknown as typeof http2.Http2ServerRequest,
    Http2ServerResponse: EdgeH2Response as unknown as typeof http2.Http2ServerResponse,
    settings: settingsOf(deps.inbound()),
    // node:http accepts 2000 header lines (maxHeadersCount); node:http2's default is 128 pairs.
    maxHeaderListPairs: 2000,
  });
  server.on('request', deps.onRequest as never);
  server.on('connect', deps.onRequest as never);
  server.on('sessionError', (err: NodeJS.ErrnoException, session: Http2Session) => {
    deps.log.debug({ code: err.code, err: err.message, client: session.socket?.remoteAddress }, 'HTTP/2 session failed');
  });

  server.on('session', (session: Http2Session) => {
    sessions.add(session);
    const t = deps.inbound().timeouts;
    const client = session.socket?.remoteAddress;
    let open = 0;
    let seen = false;
    let acked = false;
    // The SETTINGS acknowledgement and the first stream are due within the headers deadline.
    const first = setTimeout(() => {
      if (!acked) {
        deps.log.debug({ client, timeoutMs: t.requestHeadersMs }, 'HTTP/2 session closed: SETTINGS not acknowledged within timeouts.requestHeadersMs');
        // A number is sent as the GOAWAY's error code (and reported as the session's error: logged above).
        session.destroy(http2.constants.NGHTTP2_SETTINGS_TIMEOUT as unknown as Error);
      } else if (!seen && !session.closed) {
        // As on HTTP/1.1: a connection that never asked for anything (a preconnect) is closed quietly.
        session.close();
      }
    }, t.requestHeadersMs).unref();
    let idle: NodeJS.Timeout | null = null;
    const onIdle = () => { if (open === 0 && !session.closed) session.close(); };
    session.once('localSettings', () => {
      acked = true;
      if (seen) clearTimeout(first);
    });
    session.on('stream', (stream: ServerHttp2Stream) => {
      open++;
      if (!seen) {
        seen = true;
        if (acked) clearTimeout(first);
      }
      stream.once('close', () => {
        if (--open > 0 || session.closed) return;
        if (idle === null) idle = setTimeout(onIdle, t.keepAliveMs).unref();
        else idle.refresh();
      });
    });
    session.once('close', () => {
      sessions.delete(session);
      clearTimeout(first);
      if (idle !== null) clearTimeout(idle);
    });
  });

  return {
    attach(tlsServer) {
      // node:https's own listener (node:http's connection handling) keeps every connection but h2 ones.
      const own = tlsServer.listeners('secureConnection') as Array<(this: TlsServer, socket: TLSSocket) => void>;
      tlsServer.removeAllListeners('secureConnection');
      tlsServer.on('secureConnection', function dispatch(this: TlsServer, socket: TLSSocket) {
        if (socket.alpnProtocol === 'h2') {
          server.emit('connection', socket);
          return;
        }
        for (const l of own) l.call(this, socket);
      });
    },
    update(s) {
      server.updateSettings(settingsOf(s));
    },
    drain() {
      for (const s of sessions) if (!s.closed) s.close();
    },
    destroyAll() {
      for (const s of [...sessions]) s.destroy();
    },
    sessions: () => sessions.size,
  };
}

/**
 * The ALPN choice of a TLS handshake (tls `ALPNCallback`): `h2` when the client offers it and the name it
 * asked for allows it, else `http/1.1`; a client offering neither is refused (no_application_protocol).
 */
export function chooseAlpn(allowsHttp2: (servername: string | undefined) => boolean) {
  return ({ servername, protocols }: { servername: string; protocols: string[] }): string | undefined => {
    if (protocols.includes('h2') && allowsHttp2(servername || undefined)) return 'h2';
    return protocols.includes('http/1.1') ? 'http/1.1' : undefined;
  };
}
