/**
 * The request body's idle deadline (timeouts.requestBodyIdleMs): armed only for a request whose body is
 * still to come, through the request's setTimeout: node:http's sets the socket's idle timeout and turns it
 * into a 'timeout' on the incomplete request, node:http2's sets the stream's (other streams of the
 * connection are not affected); disarmed when the body has arrived. A pause because the VM does not read (TCP backpressure:
 * the client cannot send) is not the client's fault and is ignored here; upstream.timeoutMs bounds that VM.
 * The listeners are bound functions, so a request pays two `on` calls and no closure.
 */
import type { IncomingMessage } from 'node:http';
import type { RequestContext } from './context.ts';

export interface BodyDeadline {
  /** Arms the deadline for `ctx` when its request has a body still to arrive. */
  watch(ctx: RequestContext): void;
}

const kCtx: unique symbol = Symbol('idcs-edge.body');
type BodyWithCtx = IncomingMessage & { [kCtx]?: RequestContext };

/** `onStalled(ctx)` answers or cuts the request; it is called at most once per stall. */
export function createBodyDeadline(idleMs: () => number, onStalled: (ctx: RequestContext) => void): BodyDeadline {
  function stalled(this: BodyWithCtx): void {
    const ctx = this[kCtx]!;
    if (ctx.upstreamReq?.writableNeedDrain) return;
    onStalled(ctx);
  }

  /** The body arrived whole: the deadline is off again (unless the answer is done and keep-alive owns the socket). */
  function arrived(this: BodyWithCtx): void {
    const ctx = this[kCtx]!;
    if (!ctx.res!.writableFinished) this.setTimeout(0);
  }

  return {
    watch(ctx) {
      const req = ctx.req as BodyWithCtx;
      const h = req.headers;
      if (req.complete || (h['transfer-encoding'] === undefined && (h['content-length'] === undefined || h['content-length'] === '0'))) return;
      req[kCtx] = ctx;
      req.setTimeout(idleMs());
      req.on('timeout', stalled);
      req.once('end', arrived);
    },
  };
}
