/**
 * The admin routes that show what the edge does: Prometheus metrics, traffic statistics per VM and per
 * proxy, requests by status class, and per-proxy activity (rates, recent failures). In workers mode they
 * answer for the whole group: the Observability asks every worker first (metrics/observer.ts).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { EdgeError, ErrorCodes } from '../errors.ts';
import type { TrafficKind, TrafficRange } from '../stats/traffic.ts';
import { normalDomain } from './edits.ts';
import type { AdminContext } from './server.ts';

type Req = FastifyRequest<{ Querystring: Record<string, string | undefined> }>;

const RANGES: readonly TrafficRange[] = ['24h', '30d', 'month'];
const VM = /^[^/\s]+\/[^/\s]+$/;

/** `?vm=owner/name` or `?proxy=domain`, and `&range=24h|30d|month` (default 24h); 400 for anything else. */
export function trafficQuery(q: Record<string, string | undefined>): { kind: TrafficKind; id: string; range: TrafficRange } {
  const bad = (message: string) => new EdgeError(ErrorCodes.ADMIN_BAD_REQUEST, message);
  const range = (q.range ?? '24h') as TrafficRange;
  if (!RANGES.includes(range)) throw bad(`range must be one of ${RANGES.join(', ')}, not ${JSON.stringify(q.range)}`);
  if ((q.vm === undefined) === (q.proxy === undefined)) throw bad('give either vm=owner/name or proxy=domain');
  if (q.vm !== undefined) {
    const id = q.vm.trim().toLowerCase();
    if (!VM.test(id)) throw bad(`vm must be owner/name, not ${JSON.stringify(q.vm)}`);
    return { kind: 'vm', id, range };
  }
  return { kind: 'proxy', id: normalDomain(q.proxy), range };
}

/** Registers /metrics, /api/v1/traffic (+ /vms, /requests) and /api/v1/activity on `app`. */
export function registerObserveRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const o = ctx.observability;
  app.get('/metrics', async (_req, reply) => reply.type(o.contentType).send(await o.metricsText()));

  app.get('/api/v1/traffic', async (req: Req) => {
    const q = trafficQuery(req.query);
    return (await o.traffic()).series(q.kind, q.id, q.range);
  });
  app.get('/api/v1/traffic/requests', async (req: Req) => {
    const q = trafficQuery(req.query);
    return (await o.traffic()).requests(q.kind, q.id, q.range);
  });
  // Every VM of the inventory (and any other with traffic this month): the last 24 hours and the month.
  app.get('/api/v1/traffic/vms', async () => {
    const store = await o.traffic();
    const zero = { in: 0, out: 0 };
    const rows = new Map<string, { vm: string; last24h: { in: number; out: number }; month: { in: number; out: number } }>();
    for (const v of ctx.applier.current()?.vms ?? []) rows.set(`${v.owner}/${v.name}`, { vm: `${v.owner}/${v.name}`, last24h: zero, month: zero });
    for (const t of store.totals('vm', 'month')) rows.set(t.id, { vm: t.id, last24h: zero, month: { in: t.in, out: t.out } });
    for (const t of store.totals('vm', '24h')) {
      const r = rows.get(t.id);
      rows.set(t.id, { vm: t.id, month: r?.month ?? zero, last24h: { in: t.in, out: t.out } });
    }
    const total = (x: { in: number; out: number }) => x.in + x.out;
    return { vms: [...rows.values()].sort((a, b) => total(b.month) - total(a.month) || a.vm.localeCompare(b.vm)) };
  });

  app.get('/api/v1/activity', async () => o.activity());
}
