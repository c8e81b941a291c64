/**
 * The request pipeline: an ordered list of small steps over one request context (context.ts). A step
 * answers the request itself (returns true), passes it on (false), or decides later (a Promise of either).
 * After the last step the request is forwarded to its VM. Requests: target check, challenge answer, route,
 * HTTPS redirect, access policy, answer settings (HSTS, compression), forwarding headers, forward. HTTP/2
 * requests (h2.ts) take the same steps but the two that never apply over TLS (challenges come over plain
 * HTTP; nothing to redirect), plus a refusal of names that turned HTTP/2 off. Upgrades: target check,
 * route, upgrade checks, access policy, forwarding headers, forward. CONNECT is answered 501. When a
 * request is over, one "request finished" event carries its settled context.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { CHALLENGE_PATH_PREFIX, type ChallengeResponder } from '../acme/challenges.ts';
import { ErrorCodes, statusOf, type Failure } from '../errors.ts';
import type { Logger } from '../log.ts';
import { parseHostHeader } from '../routing/host.ts';
import { createBodyDeadline } from './body-deadline.ts';
import { createEncodingNegotiator } from './compression.ts';
import type { LiveState, RequestContext, RequestEvents } from './context.ts';
import { applyForwardingHeaders, clientAddress, unmapV4 } from './forwarded.ts';
import { createForwarder } from './forwarder.ts';
import { stripHopByHop } from './hop.ts';
import { sendChallengeAnswer, sendErrorOnSocket, sendErrorPage, sendHttpsRedirect } from './pages.ts';
import type { InboundSettings } from './inbound.ts';
import type { Pools } from './pools.ts';
import type { RequestIds } from './request-id.ts';
import { checkRequestTarget } from './target.ts';
import type { UpgradeRegistry } from './upgrades.ts';
import type { EdgeH2Request, EdgeH2Response } from './h2.ts';

export interface PipelineDeps {
  state(): LiveState;
  readonly pools: Pools;
  readonly upgrades: UpgradeRegistry;
  readonly log: Logger;
  readonly ids: RequestIds;
  readonly events: RequestEvents;
  challenges(): ChallengeResponder | null;
  /** The running inbound deadlines (the body deadline is read per request that has a body). */
  inbound(): InboundSettings;
}

export interface Pipeline {
  onRequest(req: IncomingMessage, res: ServerResponse): void;
  /** A request (or CONNECT) over HTTP/2: node:http2's compatibility objects as adapted by h2.ts. */
  onH2Request(req: EdgeH2Request, res: EdgeH2Response): void;
  onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** CONNECT: this edge is not a forward proxy (501). */
  onConnect(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Requests in flight (not counting upgraded connections). */
  inFlight(): number;
}

type Step = (ctx: RequestContext) => boolean | Promise<boolean>;

const kCtx: unique symbol = Symbol('idcs-edge.ctx');
type WithCtx = ServerResponse & { [kCtx]?: RequestContext };
// What a connection had read and written when its previous request finished: a request counts the bytes
// since (its own head included), so the requests of a keep-alive connection add up to the connection's bytes.
const kRead: unique symbol = Symbol('idcs-edge.read');
const kWritten: unique symbol = Symbol('idcs-edge.written');
type Counted = Socket & { [kRead]?: number; [kWritten]?: number };

/** Counts Host headers in the raw list: Node keeps only the first of repeated ones. */
function hostHeaders(req: IncomingMessage): number {
  const raw = req.rawHeaders;
  let seen = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host') seen++;
  return seen;
}

const badHost = (message: string): Failure => ({ code: ErrorCodes.BAD_HOST, message });

export function createPipeline(deps: PipelineDeps): Pipeline {
  const { pools, upgrades, log, ids, events } = deps;
  const negotiate = createEncodingNegotiator();
  let inFlight = 0;

  const newContext = (req: IncomingMessage, res: ServerResponse | null, socket: Duplex, upgrade: boolean, h2: boolean): RequestContext => {
    const state = deps.state();
    const s = socket as Socket;
    const peer = unmapV4(s.remoteAddress ?? '');
    const trusted = state.trusted.isTrusted(peer);
    return {
      id: ids.forRequest(req.headers['x-request-id'], trusted), req, res, socket, upgrade, h2,
      encrypted: h2 || (req.socket as TLSSocket).encrypted === true, started: performance.now(), state, peer, trusted,
      client: trusted ? clientAddress(peer, req.headers['x-forwarded-for'], state.trusted) : peer,
      host: '', match: null, caps: null, encoding: null, hsts: null, upgradeHead: null, upstreamReq: null, failure: null, status: 0,
      aborted: false, durationMs: 0, bytesIn: 0, bytesOut: 0,
    };
  };

  const settle = (ctx: RequestContext, status: number) => {
    const s = ctx.socket as Counted;
    ctx.status = status;
    ctx.durationMs = performance.now() - ctx.started;
    const read = s.bytesRead ?? 0;
    const written = s.bytesWritten ?? 0;
    ctx.bytesIn = read - (s[kRead] ?? 0);
    ctx.bytesOut = written - (s[kWritten] ?? 0);
    s[kRead] = read;
    s[kWritten] = written;
    if (events.active) events.emitFinished(ctx);
  };

  /** Bound as the response's close listener (one per request, no closure). */
  function onResponseClose(this: WithCtx): void {
    inFlight--;
    const ctx = this[kCtx]!;
    if (!this.writableFinished) {
      // Cut short: by the client, unless the edge cut it because of a recorded failure.
      if (ctx.failure === null) ctx.aborted = true;
      ctx.upstreamReq?.destroy();
    }
    // A client that left before the answer began: 499, as nginx and Caddy log it.
    settle(ctx, ctx.aborted && !this.headersSent ? 499 : ctx.failure ? statusOf(ctx.failure.code) : this.statusCode);
  }

  /** Answers with an error page (raw socket for upgrades, with `rawHeaders` there) and records why. */
  const fail = (ctx: RequestContext, f: Failure, rawHeaders = '') => {
    ctx.failure = f;
    const route = ctx.match?.route;
    const page = { failure: f, requestId: ctx.id, detail: ctx.state.pages.detail, custom: ctx.state.pages.custom(route, statusOf(f.code)) };
    // The edge's own answers for a proxy carry its HSTS too: a browser learns it from any HTTPS answer.
    if (ctx.res && ctx.encrypted && route?.hsts && !ctx.res.headersSent) ctx.res.setHeader('strict-transport-security', route.hsts);
    if (ctx.res) {
      sendErrorPage(ctx.res, ctx.req.headers.accept, page);
    } else {
      settle(ctx, sendErrorOnSocket(ctx.socket, page, rawHeaders));
    }
    return true;
  };

  /**
   * The answer to "why does my domain return 502?": what failed, in words, with the ID; at warn level when
   * the VM failed, info when the client did (a hostile client must not fill the operator's warnings).
   */
  const logFailure = (ctx: RequestContext, f: Failure, level: 'warn' | 'info') => {
    log[level]({ id: ctx.id, host: ctx.host, method: ctx.req.method, path: ctx.req.url, status: statusOf(f.code),
      upstream: ctx.match?.upstream.origin, client: ctx.client, code: f.code, err: f.message }, 'request failed');
  };

  const forwarder = createForwarder<RequestContext>({
    onError(ctx, err, answered) {
      // The edge already answered (a stalled body) or reported this request: the VM's side ending is a consequence.
      if (ctx.failure !== null) return;
      if (ctx.upgrade && upgrades.isPaired(ctx.socket)) {
        log.info({ id: ctx.id, host: ctx.host, upstream: ctx.match?.upstream.origin, code: err.code }, 'websocket closed by error');
        return;
      }
      logFailure(ctx, err, 'warn');
      if (answered) {
        ctx.failure = err;
        return;
      }
      fail(ctx, err);
    },
    onUpgraded(ctx, upstreamSocket) {
      upgrades.pair(ctx.socket, upstreamSocket, ctx.caps);
      settle(ctx, 101);
    },
  });

  /** A request body that stopped arriving (body-deadline.ts): 408 if nothing was answered yet, and the VM's request aborted. */
  const bodyDeadline = createBodyDeadline(() => deps.inbound().timeouts.requestBodyIdleMs, (ctx) => {
    const f: Failure = { code: ErrorCodes.BODY_TIMEOUT,
      message: `the request body stopped arriving for timeouts.requestBodyIdleMs (${deps.inbound().timeouts.requestBodyIdleMs} ms); the VM's request was aborted` };
    logFailure(ctx, f, 'info');
    const res = ctx.res!;
    const socket = ctx.socket;
    if (res.headersSent) {
      ctx.failure = f;
      socket.destroy();
    } else {
      res.shouldKeepAlive = false;
      res.once('finish', () => socket.destroy());
      fail(ctx, f);
    }
    // After the failure is recorded: the VM sees its request aborted, and that is not reported as the VM's fault.
    ctx.upstreamReq?.destroy();
  });

  // --- steps -------------------------------------------------------------------------------------------

  /** Request target and body coding (target.ts); an absolute-form target is rewritten to origin-form. */
  const checkTarget: Step = (ctx) => {
    const f = checkRequestTarget(ctx.req);
    return f === null ? false : fail(ctx, f);
  };

  const answerChallenge: Step = (ctx) => {
    const url = ctx.req.url ?? '/';
    if (!url.startsWith(CHALLENGE_PATH_PREFIX) || (ctx.req.method !== 'GET' && ctx.req.method !== 'HEAD')) return false;
    const responder = deps.challenges();
    if (!responder) return false;
    return responder.answerPath(url).then((keyAuth) => {
      // Not one of our tokens: a VM may run its own ACME client behind this route.
      if (keyAuth === null) return false;
      sendChallengeAnswer(ctx.res!, keyAuth, ctx.req.method === 'HEAD', ctx.id);
      log.info({ id: ctx.id, host: ctx.req.headers.host, path: url }, 'acme challenge answered');
      return true;
    }, (err: Error) => {
      log.error({ id: ctx.id, err: err.message, path: url }, 'acme challenge lookup failed');
      return false;
    });
  };

  const route: Step = (ctx) => {
    const raw = ctx.req.headers.host;
    // RFC 9112 3.2: several Host headers, or one that is not host[:port], must be answered 400; RFC 9113
    // 8.3.1: so is an HTTP/2 request whose Host names another authority than its :authority (h2.ts).
    if (raw && hostHeaders(ctx.req) > 1) {
      return fail(ctx, badHost(ctx.h2 ? 'the request\'s Host header differs from its :authority' : 'the request has more than one Host header'));
    }
    const host = raw ? parseHostHeader(raw) : null;
    if (raw && host === null) return fail(ctx, badHost(`the Host header ${JSON.stringify(raw.slice(0, 100))} is not a host name with an optional port 1-65535`));
    const r = ctx.state.table.lookup(host);
    ctx.host = r.ok ? host! : r.host;
    if (!r.ok) return fail(ctx, r);
    ctx.match = r;
    return false;
  };

  const redirectToHttps: Step = (ctx) => {
    const st = ctx.state;
    // Challenge paths are never redirected: a VM may run its own ACME client behind an HTTPS-only route.
    if (ctx.encrypted || !ctx.match!.route.ssl || st.httpsPort === 0 || (ctx.req.url ?? '').startsWith(CHALLENGE_PATH_PREFIX)) return false;
    sendHttpsRedirect(ctx.res!, ctx.host, st.httpsPort, ctx.req.url ?? '/', ctx.id);
    return true;
  };

  /**
   * HTTP/2 for a proxy with `http2: false`: ALPN gave its own name HTTP/1.1, so this request came on a
   * connection opened for another name the certificate covers (RFC 9113 9.1.1 lets clients reuse it). 421
   * Misdirected Request makes the client retry on a connection of its own (RFC 9110 15.5.20).
   */
  const refuseMisdirected: Step = (ctx) => {
    if (ctx.match!.route.http2) return false;
    return fail(ctx, { code: ErrorCodes.MISDIRECTED,
      message: `${ctx.host} is served over HTTP/1.1 only (http2: false); the client sent it on an HTTP/2 connection opened for another name` });
  };

  /** What the edge adds to the VM's answer: the proxy's HSTS over HTTPS, and the coding the client asked for. */
  const answerSettings: Step = (ctx) => {
    const r = ctx.match!.route;
    if (ctx.encrypted) ctx.hsts = r.hsts;
    if (r.compression && ctx.req.method !== 'HEAD') {
      const h = ctx.req.headers;
      if (h.range === undefined) ctx.encoding = negotiate(h['accept-encoding']);
    }
    return false;
  };

  const checkUpgrade: Step = (ctx) => {
    const r = ctx.match!.route;
    if (!r.websocket) {
      return fail(ctx, { code: ErrorCodes.WS_DISABLED, message: `WebSocket is not enabled for ${r.domain} (set websocket: true on the proxy)` });
    }
    if ((ctx.req.headers.upgrade ?? '').toLowerCase() !== 'websocket' || ctx.req.method !== 'GET') {
      return fail(ctx, { code: ErrorCodes.BAD_UPGRADE, message: `only WebSocket upgrades (GET with Upgrade: websocket) are proxied, not ${ctx.req.method} with Upgrade: ${ctx.req.headers.upgrade ?? ''}` });
    }
    if (!ctx.encrypted && r.ssl && ctx.state.httpsPort !== 0) {
      return fail(ctx, { code: ErrorCodes.WS_DISABLED, message: `${ctx.host} is served over HTTPS only`, publicMessage: 'This site accepts WebSocket connections over HTTPS only: connect with wss://.' });
    }
    return false;
  };

  /**
   * Access rules of the proxy and its VM (by the client address: the peer, or the first untrusted
   * X-Forwarded-For hop of a trusted proxy), then basic auth; the route's caps are noted for the forwarder.
   * One lookup per request; a config without rules, auth or caps skips even that.
   */
  const checkAccess: Step = (ctx) => {
    const policies = ctx.state.policies;
    if (policies.httpNone) return false;
    const p = policies.forMatch(ctx.match!);
    if (p === null) return false;
    ctx.caps = p.caps;
    const why = p.access?.refusal(ctx.client) ?? null;
    if (why !== null) {
      const f: Failure = { code: ErrorCodes.FORBIDDEN, message: `access refused: ${why}` };
      logFailure(ctx, f, 'info');
      return fail(ctx, f);
    }
    if (p.auth === null) return false;
    const authorized = p.auth.check(ctx.req.headers.authorization);
    return authorized === true ? false : authorized === false ? unauthorized(ctx, p.realm)
      : authorized.then((ok) => (ok ? false : unauthorized(ctx, p.realm)));
  };

  /** 401 with the challenge (RFC 7617 2): the realm is the proxy's domain. */
  const unauthorized = (ctx: RequestContext, realm: string): boolean => {
    const challenge = `Basic realm="${realm}"`;
    const f: Failure = { code: ErrorCodes.UNAUTHORIZED, message: ctx.req.headers.authorization === undefined
      ? 'basic auth required: the request has no Authorization header' : 'basic auth refused: wrong user name or password' };
    logFailure(ctx, f, 'info');
    if (ctx.res) ctx.res.setHeader('www-authenticate', challenge);
    return fail(ctx, f, `www-authenticate: ${challenge}\r\n`);
  };

  const setForwardingHeaders: Step = (ctx) => {
    const h = ctx.req.headers;
    stripHopByHop(h, ctx.upgrade);
    applyForwardingHeaders(h, { peer: ctx.peer, trusted: ctx.trusted, proto: ctx.encrypted ? 'https' : 'http',
      host: h.host!, port: (ctx.socket as Socket).localPort ?? 0 });
    h['x-request-id'] = ctx.id;
    return false;
  };

  const forwardWeb = (ctx: RequestContext) => {
    const u = ctx.match!.upstream;
    bodyDeadline.watch(ctx);
    forwarder.web(ctx, u, pools.get(u));
  };

  const forwardUpgrade = (ctx: RequestContext) => {
    const u = ctx.match!.upstream;
    upgrades.track(ctx.socket, { host: ctx.host, poolKey: u.poolKey, match: ctx.match! });
    forwarder.ws(ctx, u, ctx.upgradeHead ?? Buffer.alloc(0), pools.get(u));
  };

  const webSteps: readonly Step[] = [checkTarget, answerChallenge, route, redirectToHttps, checkAccess, answerSettings, setForwardingHeaders];
  const h2Steps: readonly Step[] = [checkTarget, route, refuseMisdirected, checkAccess, answerSettings, setForwardingHeaders];
  const upgradeSteps: readonly Step[] = [checkTarget, route, checkUpgrade, checkAccess, setForwardingHeaders];

  /**
   * The last line of defence: a fault while handling one request answers that request with a 500 (or cuts
   * its connection when the answer had started) and is logged; it never reaches the process.
   */
  const internalError = (ctx: RequestContext, err: unknown) => {
    log.error({ err, id: ctx.id, host: ctx.req.headers.host, method: ctx.req.method, path: ctx.req.url, client: ctx.client }, 'request handling failed');
    try {
      fail(ctx, { code: ErrorCodes.INTERNAL, message: `the edge failed to handle this request: ${(err as Error)?.message ?? String(err)}` });
    } catch {
      ctx.socket.destroy();
    }
  };

  const run = (ctx: RequestContext, steps: readonly Step[], from: number, last: (ctx: RequestContext) => void): void => {
    try {
      for (let i = from; i < steps.length; i++) {
        const r = steps[i]!(ctx);
        if (r === true) return;
        if (r !== false) {
          r.then((done) => { if (!done) run(ctx, steps, i + 1, last); }, (err: unknown) => internalError(ctx, err));
          return;
        }
      }
      last(ctx);
    } catch (err) {
      internalError(ctx, err);
    }
  };

  return {
    onRequest(req, res) {
      inFlight++;
      const ctx = newContext(req, res, req.socket, false, false);
      (res as WithCtx)[kCtx] = ctx;
      res.once('close', onResponseClose);
      run(ctx, webSteps, 0, forwardWeb);
    },
    onH2Request(h2req, h2res) {
      inFlight++;
      // Shaped like node:http's where the steps look (h2.ts); the socket is node:http2's view of the session's.
      const req = h2req as unknown as IncomingMessage;
      const res = h2res as unknown as ServerResponse;
      const ctx = newContext(req, res, req.socket, false, true);
      (res as WithCtx)[kCtx] = ctx;
      res.once('close', onResponseClose);
      run(ctx, h2Steps, 0, forwardWeb);
    },
    onUpgrade(req, socket, head) {
      // Until the pair is registered, an error on the client socket must not go unhandled.
      socket.on('error', () => socket.destroy());
      const ctx = newContext(req, null, socket, true, false);
      ctx.upgradeHead = head;
      run(ctx, upgradeSteps, 0, forwardUpgrade);
    },
    onConnect(req, socket) {
      socket.on('error', () => socket.destroy());
      const ctx = newContext(req, null, socket, true, false);
      fail(ctx, { code: ErrorCodes.NOT_IMPLEMENTED,
        message: `CONNECT ${JSON.stringify((req.url ?? '').slice(0, 100))}: this edge is a reverse proxy, not a forward proxy` });
    },
    inFlight: () => inFlight,
  };
}
