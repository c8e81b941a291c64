/**
 * Forwarding to VMs, and the one file that imports the proxy library (http-proxy-3).
 *
 * Ordinary requests take a direct path through the upstream's undici Pool (pools.ts; exchange.ts is the
 * handler): measured in bench/, http-proxy-3's per-request work (option merging, its pass pipeline) cost
 * more than the proxying itself, and node:http's client cost a third more CPU per request than undici's.
 * Two kinds of request go over node:http with the upstream's agent instead: an HTTP/2 client's request with
 * a body, whose trailers (gRPC's status, RFC 9110 6.5) must reach the VM and undici cannot send request
 * trailers, and `OPTIONS *`, whose asterisk-form target undici refuses.
 * WebSocket upgrades stay with http-proxy-3, which handles the upgrade handshake, non-101 answers and socket
 * piping well. Failures come back as UpstreamErrors every way, through the hooks the pipeline gives once.
 */
import http, { type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ProxyServer, type ServerOptions } from 'http-proxy-3';
import { classifyUpstreamError, type UpstreamError } from '../errors.ts';
import type { Upstream } from '../routing/table.ts';
import type { Agent, UpstreamPool } from './pools.ts';
import { Exchange, hasBody, pipeCompressed, trailersOf, writeAnswerHead, type UpstreamRequest } from './exchange.ts';
import type { Coding } from './compression.ts';
import { NO_CAP, pipeCapped, type Caps } from '../policy/throttle.ts';


/** What the forwarder reads from, and records on, a request's context. */
export interface Forwarding {
  readonly id: string;
  readonly req: IncomingMessage;
  readonly res: ServerResponse | null;
  readonly socket: Duplex;
  upstreamReq: UpstreamRequest | null;
  /** Bandwidth caps of the route and its VM; null: uncapped (Node's own pipe). */
  readonly caps: Caps | null;
  /** HTTP/2 client: trailers are passed on both ways (node:http's client drops the VM's for HTTP/1.1 clients). */
  readonly h2: boolean;
  /** The coding the client asked for (compression.ts decides per response whether it applies). */
  readonly encoding: Coding | null;
  /** A Strict-Transport-Security value that replaces the VM's, or null. */
  readonly hsts: string | null;
}

/** How the forwarder reports back; given once when the forwarder is made. */
export interface ForwardHooks<C extends Forwarding> {
  /** The VM failed before answering (the client gets an error page) or mid-response (the answer is cut). */
  onError(ctx: C, err: UpstreamError, answered: boolean): void;
  /** An upgrade was accepted by the VM: `upstreamSocket` is its side of the pair. */
  onUpgraded(ctx: C, upstreamSocket: Socket): void;
}

export interface Forwarder<C extends Forwarding> {
  web(ctx: C, upstream: Upstream, pool: UpstreamPool): void;
  ws(ctx: C, upstream: Upstream, head: Buffer, pool: UpstreamPool): void;
}

const kForward: unique symbol = Symbol('idcs-edge.forward');
type WithCtx<C> = IncomingMessage & { [kForward]?: { ctx: C; upstream: Upstream; clientBefore?: ListenerSnapshot } | undefined };
/** An upgrade in its handshake: the context, the request object the library was given, the sockets' listeners before it. */
interface WsForward<C> {
  readonly ctx: C;
  readonly facade: WithCtx<C>;
  readonly clientBefore: ListenerSnapshot | undefined;
  upstreamBefore: ListenerSnapshot | null;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- node's listener type
type Listener = (...args: any[]) => void;
type ListenerSnapshot = ReadonlyMap<string, ReadonlySet<Listener>>;
const TAKEN_OVER_EVENTS = ['close', 'error', 'end', 'finish', 'timeout'] as const;

function listenerSnapshot(s: Duplex): ListenerSnapshot {
  return new Map(TAKEN_OVER_EVENTS.map((ev) => [ev, new Set(s.listeners(ev) as Listener[])]));
}

/** Removes the listeners of those events that were added to `s` after `before` was taken. */
function dropListenersAddedSince(s: Duplex, before: ListenerSnapshot | undefined): void {
  if (!before) return;
  for (const ev of TAKEN_OVER_EVENTS) {
    const had = before.get(ev)!;
    for (const l of s.listeners(ev) as Listener[]) if (!had.has(l)) s.removeListener(ev, l);
  }
}
const kUpstream: unique symbol = Symbol('idcs-edge.upstream');
const kForwardReq: unique symbol = Symbol('idcs-edge.forward-req');
type TimedRequest = ClientRequest & { [kUpstream]?: Upstream };

function timeoutError(): Error {
  return Object.assign(new Error('no response from upstream within the timeout'), { code: 'EDGE_UPSTREAM_TIMEOUT' });
}

/** Bound as the ClientRequest timeout callback, so no closure is made per request. */
function onUpstreamTimeout(this: ClientRequest): void {
  this.destroy(timeoutError());
}

/** Destroys a connecting socket that has not connected in time (a VM that drops SYNs). */
function armConnectTimeout(socket: Socket, ms: number): void {
  const timer = setTimeout(() => {
    socket.destroy(Object.assign(new Error(`no connection within ${ms} ms`), { code: 'ECONNECT_TIMEOUT' }));
  }, ms);
  timer.unref();
  const clear = () => clearTimeout(timer);
  socket.once('connect', clear);
  socket.once('close', clear);
}

function onUpstreamSocket(this: TimedRequest, socket: Socket): void {
  // Only new connections connect; pooled ones are handed over connected.
  if (socket.connecting) armConnectTimeout(socket, this[kUpstream]!.connectTimeoutMs);
}

/**
 * Passes `from`'s trailers (RFC 9110 6.5) to `to` before the pipe ends it: an HTTP/2 client's request
 * trailers to the VM (its body is sent chunked, see h2.ts), the VM's chunked response trailers to an HTTP/2
 * client. Registered before the pipe, so it runs first on 'end'.
 */
function relayTrailers(from: IncomingMessage, to: { addTrailers(h: Record<string, string>): void }): void {
  from.once('end', () => {
    const trailers = trailersOf(from.rawTrailers);
    if (trailers !== null) to.addTrailers(trailers);
  });
}

export function createForwarder<C extends Forwarding>(hooks: ForwardHooks<C>): Forwarder<C> {
  const proxy = new ProxyServer({ xfwd: false, changeOrigin: false, ws: true, prependPath: false });
  const optionsCache = new WeakMap<Upstream, WeakMap<Agent, ServerOptions>>();

  const optionsFor = (u: Upstream, agent: Agent): ServerOptions => {
    let byAgent = optionsCache.get(u);
    if (!byAgent) optionsCache.set(u, byAgent = new WeakMap());
    let o = byAgent.get(agent);
    if (!o) {
      o = { target: new URL(u.origin), agent, secure: !u.tls?.insecureSkipVerify, connectTimeout: u.connectTimeoutMs };
      byAgent.set(agent, o);
    }
    return o;
  };

  /**
   * The VM switched protocols. This runs before the library's own 'upgrade' listener, which writes the 101
   * to the client and pipes the pair; on the next tick (before the pipes start flowing) the pair is taken
   * from its pipes and relayed by the registry instead (relay.ts: no per-connection closures, frame
   * tracking, caps), so that after the handshake the library holds nothing but a few listeners.
   */
  function onLibraryUpgrade(this: ClientRequest & { [kForwardReq]?: WsForward<C> }, _res: IncomingMessage, upstreamSocket: Socket): void {
    const f = this[kForwardReq];
    this[kForwardReq] = undefined;
    if (f) process.nextTick(takeOver, f, upstreamSocket);
  }
  const takeOver = (f: WsForward<C>, upstreamSocket: Socket) => {
    const { ctx, facade } = f;
    ctx.socket.unpipe(upstreamSocket);
    upstreamSocket.unpipe(ctx.socket);
    // The library's own close/error/end listeners only end the other side and count sockets, which the
    // relay does; they hold its handshake objects for the life of the connection, so they go too.
    dropListenersAddedSince(ctx.socket, f.clientBefore);
    if (f.upstreamBefore) dropListenersAddedSince(upstreamSocket, f.upstreamBefore);
    // What the library's listeners keep of the request from now on: nothing of ours.
    facade[kForward] = undefined;
    facade.headers = {};
    hooks.onUpgraded(ctx, upstreamSocket);
  };

  proxy.on('proxyReqWs', (proxyReq, req) => {
    const f = (req as WithCtx<C>)[kForward];
    if (!f) return;
    const ws: WsForward<C> = { ctx: f.ctx, facade: req as WithCtx<C>, clientBefore: f.clientBefore, upstreamBefore: null };
    (proxyReq as ClientRequest & { [kForwardReq]?: WsForward<C> })[kForwardReq] = ws;
    proxyReq.once('socket', (s: Socket) => { ws.upstreamBefore = listenerSnapshot(s); });
    // The VM must answer the handshake in time; once upgraded, the library turns socket timeouts off.
    proxyReq.setTimeout(f.upstream.timeoutMs, onUpstreamTimeout);
    proxyReq.once('upgrade', onLibraryUpgrade);
  });
  proxy.on('error', (err, req) => {
    const f = (req as WithCtx<C>)[kForward];
    if (f) hooks.onError(f.ctx, classifyUpstreamError(err, f.upstream.origin, f.upstream.tls), false);
  });
  // The client went away first; http-proxy-3 has already destroyed the upstream request.
  proxy.on('econnreset', () => {});

  /** The requests undici cannot send (see the file's comment), over node:http with the upstream's agent. */
  const webNode = (ctx: C, u: Upstream, agent: Agent) => {
    const { req } = ctx;
    const res = ctx.res!;
    const proxyReq: TimedRequest = (u.protocol === 'https' ? https : http).request({
      agent, host: u.host, port: u.port, method: req.method, path: req.url,
      // req.headers already carries the client's Host (the VM sees it) and the forwarding headers.
      headers: req.headers, setHost: false,
    });
    ctx.upstreamReq = proxyReq;
    proxyReq[kUpstream] = u;
    proxyReq.setTimeout(u.timeoutMs, onUpstreamTimeout);
    proxyReq.once('socket', onUpstreamSocket);
    proxyReq.on('response', (proxyRes: IncomingMessage) => {
      // The VM answered: streaming after this (SSE, downloads) may idle as long as it likes.
      proxyReq.setTimeout(0);
      if (res.headersSent || res.destroyed) {
        proxyRes.resume();
        return;
      }
      const z = writeAnswerHead(ctx, proxyRes.statusCode ?? 502, proxyRes.statusMessage, proxyRes.rawHeaders);
      if (ctx.h2) relayTrailers(proxyRes, res);
      if (z === null) pipeCapped(proxyRes, res, ctx.caps?.egress ?? NO_CAP);
      else pipeCompressed(proxyRes, z, res, ctx.caps?.egress ?? NO_CAP);
      // A VM that resets or breaks the framing mid-body: the client's answer is cut short, and the log must
      // say the VM did it, whichever of 'error' and 'close' comes first.
      const cut = (err?: Error) => {
        if (proxyRes.complete || res.destroyed) return;
        hooks.onError(ctx, classifyUpstreamError(err ?? Object.assign(new Error('the VM closed the connection mid-response'),
          { code: 'ECONNRESET' }), u.origin, u.tls), true);
        res.destroy();
      };
      proxyRes.once('close', cut);
      proxyRes.on('error', cut);
    });
    proxyReq.on('error', (err: Error) => {
      // A client that hung up is not the VM's fault: nothing to answer, nothing to report.
      if (res.destroyed) return;
      const answered = res.headersSent;
      hooks.onError(ctx, classifyUpstreamError(err, u.origin, u.tls), answered);
      // The answer had begun (a body the parser refused): cut it, or the client would wait for the rest.
      if (answered) res.destroy();
    });
    if (ctx.h2) relayTrailers(req, proxyReq);
    pipeCapped(req, proxyReq, ctx.caps?.ingress ?? NO_CAP);
  };

  return {
    web(ctx, u, pool) {
      // undici takes origin-form and absolute-form targets only: `OPTIONS *` (RFC 9112 3.2.4) goes over node:http.
      if ((ctx.h2 && hasBody(ctx.req.headers)) || ctx.req.url === '*') webNode(ctx, u, pool.agent());
      else new Exchange(ctx, u, hooks).start(pool.dispatcher());
    },
    ws(ctx, upstream, head, pool) {
      // The library keeps the request it is given for as long as the connection lasts: it gets the few
      // fields it reads, so the client's IncomingMessage (and its headers) can go once the handshake is done.
      const { req } = ctx;
      const facade = { method: req.method, url: req.url, headers: req.headers, httpVersion: req.httpVersion, socket: req.socket,
        connection: req.socket, [kForward]: { ctx, upstream, clientBefore: listenerSnapshot(ctx.socket) } } as unknown as WithCtx<C>;
      proxy.ws(facade, ctx.socket, head, optionsFor(upstream, pool.agent()));
    },
  };
}
