/**
 * Request and upgrade handling: route by Host, answer what the edge answers itself (ACME challenges,
 * HTTPS redirects, error pages), set forwarding headers, and hand everything else to the forwarder.
 * One access-log line per request. The live state is read once per request, so a reload swaps it whole.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { CHALLENGE_PATH_PREFIX, type ChallengeResponder } from '../acme/challenges.ts';
import { ErrorCodes, httpStatusOf, type UpstreamError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { parseHostHeader } from '../routing/host.ts';
import type { Resolution, RouteTable } from '../routing/table.ts';
import { applyForwardingHeaders, type TrustedProxies } from './forwarded.ts';
import type { Forwarder } from './forwarder.ts';
import { stripHopByHop } from './hop.ts';
import { sendErrorOnSocket, sendErrorPage, sendHttpsRedirect } from './pages.ts';
import type { Pools } from './pools.ts';
import type { UpgradeRegistry } from './upgrades.ts';

/** Everything a request needs that changes on reload, swapped as one object. */
export interface LiveState {
  readonly table: RouteTable;
  readonly trusted: TrustedProxies;
  /** Port that HTTPS redirects point to; 0 when HTTPS is off (no redirects then). */
  readonly httpsPort: number;
}

export interface HandlerDeps {
  state(): LiveState;
  readonly forwarder: Forwarder;
  readonly pools: Pools;
  readonly upgrades: UpgradeRegistry;
  readonly log: Logger;
  challenges(): ChallengeResponder | null;
}

export interface Handlers {
  onRequest(req: IncomingMessage, res: ServerResponse): void;
  onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

export function createHandlers(deps: HandlerDeps): Handlers {
  const { forwarder, pools, upgrades, log } = deps;

  /** One `access` line per request (info level). */
  const accessLog = (req: IncomingMessage, status: number, started: number, host: string, upstream: string | undefined,
    bytes: number, code?: string) => {
    if (!log.isLevelEnabled('info')) return;
    log.info({
      host, method: req.method, path: req.url, status, bytes, ms: Math.round((performance.now() - started) * 10) / 10,
      upstream, client: req.socket.remoteAddress, ...(code ? { code } : {}),
    }, 'access');
  };
  /** The answer to "why does my domain return 502?": what failed, in words, at warn level. */
  const logFailure = (req: IncomingMessage, host: string, upstream: string | undefined, status: number, code: string, message: string) => {
    log.warn({ host, method: req.method, path: req.url, status, upstream, client: req.socket.remoteAddress, code, err: message }, 'request failed');
  };

  const proxyWeb = (req: IncomingMessage, res: ServerResponse, started: number, encrypted: boolean) => {
    const st = deps.state();
    const bad = badHost(req);
    if (bad) {
      sendErrorPage(res, req.headers.accept, bad);
      accessLog(req, bad.status, started, '', undefined, 0, bad.code);
      return;
    }
    const maybeHost = req.headers.host ? parseHostHeader(req.headers.host) : null;
    const r = st.table.lookup(maybeHost);
    if (!r.ok) {
      const page = missPage(r);
      sendErrorPage(res, req.headers.accept, page);
      accessLog(req, page.status, started, r.host, undefined, 0);
      return;
    }
    const host = maybeHost!; // a match implies a host
    // Challenge paths are never redirected: a VM may run its own ACME client behind an HTTPS-only route.
    if (!encrypted && r.route.ssl && st.httpsPort !== 0 && !(req.url ?? '').startsWith(CHALLENGE_PATH_PREFIX)) {
      sendHttpsRedirect(res, host, st.httpsPort, req.url ?? '/');
      accessLog(req, 308, started, host, undefined, 0);
      return;
    }
    const socket = req.socket;
    stripHopByHop(req.headers, false);
    applyForwardingHeaders(req.headers, {
      peer: socket.remoteAddress ?? '', trusted: st.trusted.isTrusted(socket.remoteAddress),
      proto: encrypted ? 'https' : 'http', host: req.headers.host!, port: socket.localPort ?? 0,
    });
    let failed: UpstreamError | undefined;
    // The access line's listener is only added when the line will be written.
    if (log.isLevelEnabled('info')) {
      const bytesBefore = socket.bytesWritten;
      res.once('close', () => {
        accessLog(req, failed ? httpStatusOf(failed) : res.statusCode, started, host, r.upstream.origin,
          socket.bytesWritten - bytesBefore, failed?.code);
      });
    }
    forwarder.web(req, res, {
      upstream: r.upstream,
      onError(err) {
        failed = err;
        const status = httpStatusOf(err);
        logFailure(req, host, r.upstream.origin, status, err.code, err.message);
        sendErrorPage(res, req.headers.accept, { status, code: err.code, message: err.message });
      },
    }, pools.get(r.upstream));
  };

  /**
   * The last line of defence: a fault while handling one request answers that request with a 500 (or cuts
   * its connection when the answer had started) and is logged; it never reaches the process.
   */
  const internalError = (req: IncomingMessage, out: ServerResponse | Duplex, err: unknown) => {
    log.error({ err, host: req.headers.host, method: req.method, path: req.url, client: req.socket.remoteAddress }, 'request handling failed');
    const page = { status: 500, code: ErrorCodes.INTERNAL, message: 'the edge failed to handle this request' };
    try {
      if ('writeHead' in out) sendErrorPage(out, undefined, page);
      else sendErrorOnSocket(out, page);
    } catch {
      out.destroy();
    }
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now();
    const encrypted = (req.socket as TLSSocket).encrypted === true;
    const url = req.url ?? '/';
    if (url.startsWith(CHALLENGE_PATH_PREFIX) && (req.method === 'GET' || req.method === 'HEAD')) {
      const responder = deps.challenges();
      if (responder) {
        responder.answerPath(url).then((keyAuth) => {
          if (keyAuth === null) return proxyWeb(req, res, started, encrypted);
          res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(keyAuth), 'cache-control': 'no-store' });
          res.end(req.method === 'HEAD' ? undefined : keyAuth);
          log.info({ host: req.headers.host, path: url }, 'acme challenge answered');
        }, (err: Error) => {
          log.error({ err: err.message, path: url }, 'acme challenge lookup failed');
          proxyWeb(req, res, started, encrypted);
        }).catch((err: unknown) => internalError(req, res, err));
        return;
      }
    }
    proxyWeb(req, res, started, encrypted);
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const started = performance.now();
    const st = deps.state();
    const encrypted = (req.socket as TLSSocket).encrypted === true;
    socket.on('error', () => socket.destroy());
    const bad = badHost(req);
    if (bad) {
      sendErrorOnSocket(socket, bad);
      accessLog(req, bad.status, started, '', undefined, 0, bad.code);
      return;
    }
    const maybeHost = req.headers.host ? parseHostHeader(req.headers.host) : null;
    const r = st.table.lookup(maybeHost);
    if (!r.ok) {
      const page = missPage(r);
      sendErrorOnSocket(socket, page);
      accessLog(req, page.status, started, r.host, undefined, 0);
      return;
    }
    const host = maybeHost!; // a match implies a host
    const refuse = (status: number, code: string, message: string) => {
      sendErrorOnSocket(socket, { status, code, message });
      logFailure(req, host, r.upstream.origin, status, code, message);
      accessLog(req, status, started, host, r.upstream.origin, 0, code);
    };
    if (!r.route.websocket) {
      return refuse(403, ErrorCodes.WS_DISABLED, `WebSocket is not enabled for ${r.route.domain} (set websocket: true on the proxy)`);
    }
    if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket' || req.method !== 'GET') {
      return refuse(400, ErrorCodes.WS_DISABLED, 'only WebSocket upgrades (GET with Upgrade: websocket) are proxied');
    }
    if (!encrypted && r.route.ssl && st.httpsPort !== 0) {
      return refuse(403, ErrorCodes.WS_DISABLED, `${host} is served over HTTPS only: connect with wss://`);
    }
    stripHopByHop(req.headers, true);
    applyForwardingHeaders(req.headers, {
      peer: (socket as Socket).remoteAddress ?? '',
      trusted: st.trusted.isTrusted((socket as Socket).remoteAddress),
      proto: encrypted ? 'https' : 'http', host: req.headers.host!, port: (socket as Socket).localPort ?? 0,
    });
    upgrades.track(socket, { host, poolKey: r.upstream.poolKey });
    let upgraded = false;
    forwarder.ws(req, socket, head, {
      upstream: r.upstream,
      onUpgraded(upstreamSocket) {
        upgraded = true;
        upgrades.pair(socket, upstreamSocket);
        accessLog(req, 101, started, host, r.upstream.origin, 0);
      },
      onError(err) {
        if (upgraded) {
          log.info({ host, upstream: r.upstream.origin, code: err.code }, 'websocket closed by error');
          return;
        }
        const status = httpStatusOf(err);
        sendErrorOnSocket(socket, { status, code: err.code, message: err.message });
        logFailure(req, host, r.upstream.origin, status, err.code, err.message);
        accessLog(req, status, started, host, r.upstream.origin, 0, err.code);
      },
    }, pools.get(r.upstream));
  };

  return {
    onRequest(req, res) {
      try { onRequest(req, res); } catch (err) { internalError(req, res, err); }
    },
    onUpgrade(req, socket, head) {
      try { onUpgrade(req, socket, head); } catch (err) { internalError(req, socket, err); }
    },
  };
}

/**
 * Refusals decided by the Host header alone: several Host headers, or a value that is not `host[:port]`
 * (RFC 9112 3.2: a server must answer 400). Node keeps only the first of repeated Host headers, so the raw
 * list is counted.
 */
function badHost(req: IncomingMessage): { status: number; code: string; message: string } | null {
  const raw = req.rawHeaders;
  let seen = 0;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host') seen++;
  }
  if (seen > 1) return { status: 400, code: ErrorCodes.BAD_HOST, message: 'the request has more than one Host header' };
  const host = req.headers.host;
  if (host && parseHostHeader(host) === null) {
    return { status: 400, code: ErrorCodes.BAD_HOST, message: 'the Host header is not a valid host name with an optional port 1-65535' };
  }
  return null;
}

function missPage(r: Extract<Resolution, { ok: false }>): { status: number; code: string; message: string } {
  return { status: r.code === ErrorCodes.NO_HOST ? 400 : 404, code: r.code, message: r.message };
}
