/**
 * The access log: one `access` line per request, written from the "request finished" event. A request the
 * edge answered itself carries the code and, for the operator, the detail behind the public page (the
 * upstream's address, which owner has no such VM) next to the same request ID the visitor saw.
 */
import type { Logger } from '../log.ts';
import type { RequestContext, RequestEvents } from './context.ts';

/** Subscribes the access log (written while the level is info or lower); returns the unsubscribe function. */
export function subscribeAccessLog(events: RequestEvents, log: Logger): () => void {
  return events.onFinished((ctx: RequestContext) => {
    if (!log.isLevelEnabled('info')) return;
    const f = ctx.failure;
    log.info({
      id: ctx.id, host: ctx.host, method: ctx.req.method, path: ctx.req.url, status: ctx.status, bytes: ctx.bytesOut,
      ms: Math.round(ctx.durationMs * 10) / 10, upstream: ctx.match?.upstream.origin, client: ctx.client,
      ...(ctx.h2 ? { http: '2' } : {}), ...(ctx.aborted ? { aborted: true } : {}), ...(f ? { code: f.code, err: f.message } : {}),
    }, 'access');
  });
}
