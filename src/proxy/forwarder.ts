/**
 * The one file that imports the proxy library (http-proxy-3). It forwards a routed request or upgrade to
 * an upstream through that upstream's keep-alive agent, and reports failures back as UpstreamErrors.
 * Everything per upstream (target URL, agent, TLS options) is precomputed once per upstream object.
 */
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ProxyServer, type ServerOptions } from 'http-proxy-3';
import { classifyUpstreamError, type UpstreamError } from '../errors.ts';
import type { Upstream } from '../routing/table.ts';
import type { Agent } from './pools.ts';
import { stripResponseHopByHop } from './hop.ts';

/** What the request handler leaves on the request so the shared event handlers can find it. */
export interface ForwardContext {
  readonly upstream: Upstream;
  /** The client's own Connection header, removed before forwarding. */
  readonly clientConnection: string | undefined;
  onError(err: UpstreamError): void;
  /** For upgrades: called with the VM-side socket once the VM switched protocols. */
  onUpgraded?: (upstreamSocket: Socket) => void;
}

export const kForward: unique symbol = Symbol('idcs-edge.forward');
type WithCtx = IncomingMessage & { [kForward]?: ForwardContext };

export interface Forwarder {
  web(req: IncomingMessage, res: ServerResponse, ctx: ForwardContext, agent: Agent): void;
  ws(req: IncomingMessage, socket: Duplex, head: Buffer, ctx: ForwardContext, agent: Agent): void;
}

function timeoutError(): Error {
  return Object.assign(new Error('no response from upstream within the timeout'), { code: 'EDGE_UPSTREAM_TIMEOUT' });
}

/** Bound as the ClientRequest timeout callback, so no closure is made per request. */
function onUpstreamTimeout(this: ClientRequest): void {
  this.destroy(timeoutError());
}

export function createForwarder(opts: { timeoutMs: number; connectTimeoutMs: number }): Forwarder {
  const proxy = new ProxyServer({ xfwd: false, changeOrigin: false, ws: true, prependPath: false });
  const optionsCache = new WeakMap<Upstream, WeakMap<Agent, ServerOptions>>();

  const optionsFor = (u: Upstream, agent: Agent): ServerOptions => {
    let byAgent = optionsCache.get(u);
    if (!byAgent) optionsCache.set(u, byAgent = new WeakMap());
    let o = byAgent.get(agent);
    if (!o) {
      o = {
        target: new URL(u.origin),
        agent,
        secure: !u.tls?.insecureSkipVerify,
        connectTimeout: opts.connectTimeoutMs,
        // Off: the library's own timeout would surface as a reset (502); ours, set on 'proxyReq', is a 504.
        proxyTimeout: 0,
      };
      byAgent.set(agent, o);
    }
    return o;
  };

  proxy.on('proxyReq', (proxyReq) => {
    proxyReq.setTimeout(opts.timeoutMs, onUpstreamTimeout);
  });
  proxy.on('proxyRes', (proxyRes, req) => {
    // Headers arrived: the VM answered. Streaming bodies (SSE, downloads) may then idle as long as they like.
    (proxyRes as IncomingMessage & { req?: ClientRequest }).req?.setTimeout(0);
    stripResponseHopByHop(proxyRes.headers);
    const ctx = (req as WithCtx)[kForward];
    const conn = ctx?.clientConnection;
    const wantsClose = conn !== undefined ? /(?:^|,)\s*close\s*(?:,|$)/i.test(conn)
      : req.httpVersionMajor === 1 && req.httpVersionMinor === 0;
    proxyRes.headers['connection'] = wantsClose ? 'close' : 'keep-alive';
  });
  proxy.on('proxyReqWs', (proxyReq, req) => {
    const ctx = (req as WithCtx)[kForward];
    if (ctx?.onUpgraded) proxyReq.once('upgrade', (_res: IncomingMessage, s: Socket) => ctx.onUpgraded!(s));
  });
  proxy.on('error', (err, req) => {
    const ctx = (req as WithCtx)[kForward];
    if (ctx) ctx.onError(classifyUpstreamError(err, ctx.upstream.origin));
  });
  // The client went away first; http-proxy-3 has already destroyed the upstream request.
  proxy.on('econnreset', () => {});

  return {
    web(req, res, ctx, agent) {
      (req as WithCtx)[kForward] = ctx;
      proxy.web(req, res, optionsFor(ctx.upstream, agent));
    },
    ws(req, socket, head, ctx, agent) {
      (req as WithCtx)[kForward] = ctx;
      proxy.ws(req, socket, head, optionsFor(ctx.upstream, agent));
    },
  };
}
