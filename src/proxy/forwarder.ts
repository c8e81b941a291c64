/**
 * Forwarding to VMs, and the one file that imports the proxy library (http-proxy-3).
 *
 * Ordinary requests take a direct path over node:http(s) with the upstream's keep-alive agent: measured in
 * bench/, http-proxy-3's per-request work (option merging, its pass pipeline) cost more than the proxying
 * itself, and with our options (no path rewrite, no x-forwarded handling, no cookie rewriting) its passes
 * reduce to what is below. WebSocket upgrades stay with http-proxy-3, which handles the upgrade handshake,
 * non-101 answers and socket piping well. Failures come back as UpstreamErrors either way.
 */
import http, { type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ProxyServer, type ServerOptions } from 'http-proxy-3';
import { classifyUpstreamError, type UpstreamError } from '../errors.ts';
import type { Upstream } from '../routing/table.ts';
import type { Agent } from './pools.ts';
import { forwardableResponseHeaders } from './hop.ts';

/** What the request handler leaves on the request so the shared event handlers can find it. */
export interface ForwardContext {
  readonly upstream: Upstream;
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
      };
      byAgent.set(agent, o);
    }
    return o;
  };

  proxy.on('proxyReqWs', (proxyReq, req) => {
    // The VM must answer the handshake in time; once upgraded, the library turns socket timeouts off.
    proxyReq.setTimeout(opts.timeoutMs, onUpstreamTimeout);
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
      const u = ctx.upstream;
      const proxyReq = (u.protocol === 'https' ? https : http).request({
        agent, host: u.host, port: u.port, method: req.method, path: req.url,
        // req.headers already carries the client's Host (the VM sees it) and the forwarding headers.
        headers: req.headers, setHost: false,
      });
      proxyReq.setTimeout(opts.timeoutMs, onUpstreamTimeout);
      proxyReq.once('socket', (socket: Socket) => {
        // Only new connections connect; pooled ones are handed over connected.
        if (socket.connecting) armConnectTimeout(socket, opts.connectTimeoutMs);
      });
      let clientGone = false;
      proxyReq.on('response', (proxyRes: IncomingMessage) => {
        // The VM answered: streaming after this (SSE, downloads) may idle as long as it likes.
        proxyReq.setTimeout(0);
        if (res.headersSent || clientGone) {
          proxyRes.resume();
          return;
        }
        // Without Connection and Transfer-Encoding, Node frames the body for our client (chunked, or close
        // for HTTP/1.0) and keeps or closes the client connection as that client asked.
        res.writeHead(proxyRes.statusCode ?? 502, proxyRes.statusMessage, forwardableResponseHeaders(proxyRes.rawHeaders));
        proxyRes.pipe(res);
        proxyRes.on('error', () => res.destroy());
      });
      proxyReq.on('error', (err: Error) => {
        // A client that hung up is not the VM's fault: nothing to answer, nothing to report.
        if (clientGone) return;
        ctx.onError(classifyUpstreamError(err, u.origin));
      });
      res.once('close', () => {
        if (!res.writableFinished) {
          clientGone = true;
          proxyReq.destroy();
        }
      });
      req.pipe(proxyReq);
    },
    ws(req, socket, head, ctx, agent) {
      (req as WithCtx)[kForward] = ctx;
      proxy.ws(req, socket, head, optionsFor(ctx.upstream, agent));
    },
  };
}
