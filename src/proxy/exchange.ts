/**
 * One request to a VM through undici's dispatcher API: the handler that turns the VM's answer into the
 * client's. One object per request, its callbacks on the prototype (no closure per request on the common
 * path). The VM's body is written straight to the client with undici's pause/resume as backpressure, an
 * egress cap charged chunk by chunk on the way (a pause while its buckets are dry); only compression reads
 * it through a stream.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { PassThrough, Readable, type Transform } from 'node:stream';
import type { Dispatcher } from 'undici';
import { classifyUpstreamError } from '../errors.ts';
import type { Upstream } from '../routing/table.ts';
import { charge, NO_CAP, pipeCapped, type Cap } from '../policy/throttle.ts';
import { compressorFor } from './compression.ts';
import type { ForwardHooks, Forwarding } from './forwarder.ts';
import { h2SafeHeaders } from './h2.ts';
import { forwardableResponseHeaders } from './hop.ts';


/** What the pipeline holds of the request to the VM: it ends it when the client goes away. */
export interface UpstreamRequest {
  destroy(err?: Error): void;
  /** true while the VM does not take the request body (TCP backpressure): no fault of the client's. */
  readonly writableNeedDrain: boolean;
}

/** true when a request (in node:http's header shape, after hop.ts) has a body to forward. */
export function hasBody(h: IncomingHttpHeaders): boolean {
  const cl = h['content-length'];
  return h['transfer-encoding'] !== undefined || (cl !== undefined && cl !== '0');
}

/** `[name, value, ...]` trailers as the object node's addTrailers takes, without HTTP/2's forbidden fields. */
export function trailersOf(raw: readonly string[]): Record<string, string> | null {
  if (raw.length === 0) return null;
  const safe = h2SafeHeaders(raw);
  const out: Record<string, string> = {};
  for (let i = 0; i < safe.length; i += 2) out[safe[i]!] = out[safe[i]!] === undefined ? safe[i + 1]! : `${out[safe[i]!]}, ${safe[i + 1]!}`;
  return out;
}

/**
 * Writes the client's answer head from the VM's status and raw headers: hop-by-hop ones dropped (Node then
 * frames the body for our client, chunked or close for HTTP/1.0, and keeps or closes the client connection
 * as that client asked), the request ID, the proxy's HSTS. Returns the compressor the body must go
 * through (compression.ts), or null to send it as the VM did. Both forwarding paths answer through this.
 */
export function writeAnswerHead(ctx: Forwarding, status: number, statusText: string | undefined, raw: readonly string[]): Transform | null {
  const headers = forwardableResponseHeaders(raw, ctx.hsts !== null);
  headers.push('x-request-id', ctx.id);
  if (ctx.hsts !== null) headers.push('strict-transport-security', ctx.hsts);
  const z = ctx.encoding === null ? null : compressorFor(ctx.encoding, status, headers);
  ctx.res!.writeHead(status, statusText, headers);
  return z;
}

/** Pipes the VM's body `src` through the compressor `z` to the client under `cap`. */
export function pipeCompressed(src: Readable, z: Transform, res: ServerResponse, cap: Cap): void {
  // The client going away ends the compressor too; the VM's side is cut by the pipeline then.
  res.once('close', () => z.destroy());
  z.once('error', (err) => res.destroy(err));
  src.pipe(z);
  pipeCapped(z, res, cap);
}

function latin1(list: readonly (Buffer | string)[]): string[] {
  const out = new Array<string>(list.length);
  for (let i = 0; i < list.length; i++) {
    const v = list[i]!;
    out[i] = typeof v === 'string' ? v : v.toString('latin1');
  }
  return out;
}

function clientGone(): Error {
  return Object.assign(new Error('the client went away'), { code: 'EDGE_CLIENT_GONE' });
}

export class Exchange<C extends Forwarding> implements UpstreamRequest, Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | null = null;
  /** Set once the edge ends the request (the client left): what undici reports after that is not the VM's. */
  private ended: Error | null = null;
  /** The VM's body as a stream, when compression sits between it and the client. */
  private body: Readable | null = null;
  /** The answer's egress cap (empty: uncapped). */
  private cap: Cap = NO_CAP;
  /** Paused for the client's buffer to drain, or for the cap's buckets to refill (the timer). */
  private drainWait = false;
  private capTimer: NodeJS.Timeout | null = null;
  private resumer: (() => void) | null = null;

  private readonly ctx: C;
  private readonly u: Upstream;
  private readonly hooks: ForwardHooks<C>;

  constructor(ctx: C, u: Upstream, hooks: ForwardHooks<C>) {
    this.ctx = ctx;
    this.u = u;
    this.hooks = hooks;
  }

  /** Sends the request. Framing is undici's: a body with Content-Length keeps it, any other is chunked. */
  start(dispatcher: Dispatcher): void {
    const { ctx, u } = this;
    const req = ctx.req;
    const h = req.headers;
    const withBody = hasBody(h);
    // undici frames bodies itself and refuses these: Transfer-Encoding (hop.ts keeps a chunked request
    // chunked; undici sends a body of unknown length chunked), and Expect, which node:http has already
    // answered with 100 Continue for the client (RFC 9110 10.1.1: a proxy may).
    if (h['transfer-encoding'] !== undefined) delete h['transfer-encoding'];
    if (h.expect !== undefined) delete h.expect;
    let body: Readable | null = null;
    if (withBody) {
      const cap = ctx.caps?.ingress ?? NO_CAP;
      if (cap.length === 0) body = req;
      else pipeCapped(req, body = new PassThrough(), cap);
    }
    ctx.upstreamReq = this;
    dispatcher.dispatch({
      path: req.url ?? '/', method: req.method ?? 'GET', headers: h as Record<string, string | string[]>, body,
      headersTimeout: u.timeoutMs, bodyTimeout: 0,
      ...(u.tls?.serverName ? { servername: u.tls.serverName } : {}),
    }, this);
  }

  get writableNeedDrain(): boolean {
    return this.ctx.req.isPaused();
  }

  destroy(err?: Error): void {
    if (this.ended !== null) return;
    this.ended = err ?? clientGone();
    this.stopTimer();
    this.body?.destroy();
    this.controller?.abort(this.ended);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    // The client left while the request waited for a connection.
    if (this.ended !== null) controller.abort(this.ended);
  }

  onResponseStart(controller: Dispatcher.DispatchController, status: number, _headers: unknown, statusText?: string): void {
    const { ctx } = this;
    const res = ctx.res!;
    if (res.headersSent || res.destroyed) {
      this.destroy();
      return;
    }
    const z = writeAnswerHead(ctx, status, statusText, latin1((controller as { rawHeaders?: (Buffer | string)[] }).rawHeaders ?? []));
    const cap = ctx.caps?.egress ?? NO_CAP;
    if (z === null) {
      this.cap = cap;
      return;
    }
    pipeCompressed(this.body = new Readable({ read: () => controller.resume() }), z, res, cap);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.body !== null) {
      if (!this.body.push(chunk)) controller.pause();
      return;
    }
    const res = this.ctx.res!;
    const full = !res.write(chunk);
    const wait = this.cap.length === 0 ? 0 : charge(this.cap, chunk.length);
    if (!full && wait === 0) return;
    controller.pause();
    const resume = this.resumer ??= () => {
      if (!this.drainWait && this.capTimer === null && this.ended === null) controller.resume();
    };
    if (full) {
      this.drainWait = true;
      res.once('drain', () => {
        this.drainWait = false;
        resume();
      });
    }
    if (wait > 0 && this.capTimer === null) {
      this.capTimer = setTimeout(() => {
        this.capTimer = null;
        resume();
      }, wait);
    }
  }

  /** No timer outlives the answer. */
  private stopTimer(): void {
    if (this.capTimer !== null) clearTimeout(this.capTimer);
    this.capTimer = null;
  }

  onResponseEnd(controller: Dispatcher.DispatchController): void {
    const res = this.ctx.res!;
    // HTTP/2 clients get the VM's trailers (node:http drops them for HTTP/1.1 clients, and so does the edge).
    if (this.ctx.h2) {
      const trailers = trailersOf(latin1((controller as { rawTrailers?: (Buffer | string)[] }).rawTrailers ?? []));
      if (trailers !== null) res.addTrailers(trailers);
    }
    this.stopTimer();
    if (this.body !== null) this.body.push(null);
    else res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    const res = this.ctx.res!;
    this.stopTimer();
    // The edge ended it (the client left): not the VM's fault, nothing to answer.
    if (this.ended !== null || res.destroyed) return;
    this.ended = err;
    const answered = res.headersSent;
    this.body?.destroy();
    this.hooks.onError(this.ctx, classifyUpstreamError(err, this.u.origin, this.u.tls), answered);
    // The answer had begun (the VM reset or broke the framing mid-body): cut it, or the client would wait.
    if (answered) res.destroy();
  }
}
