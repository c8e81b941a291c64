/**
 * The admin routes about the running edge rather than the document: health, readiness, status,
 * certificates (with renew-now), and the OpenAPI document.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { EdgeError, ErrorCodes, statusOf } from '../errors.ts';
import { renewalTargets } from '../renewal/renew.ts';
import { buildRouteTable } from '../routing/table.ts';
import { normalDomain } from './edits.ts';
import { openApiDocument } from './openapi.ts';
import type { AdminContext } from './server.ts';
import { certificateViews } from './views.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Registers health, readiness, status, certificates, renew and the OpenAPI document on `app`. */
export function registerStateRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const { applier, file, document } = ctx;
  const running = () => {
    const c = applier.current();
    if (c === null) throw new EdgeError(ErrorCodes.ADMIN_NOT_READY, 'the edge has not applied a config yet');
    return c;
  };
  const open = { config: { open: true } };

  app.get('/healthz', open, async () => ({ status: 'alive' }));
  app.get('/readyz', open, async (_req, reply) => {
    if (!ctx.runtime().ready || applier.current() === null) return reply.code(statusOf(ErrorCodes.ADMIN_NOT_READY)).send({ status: 'starting' });
    // Degraded still answers 200: the edge serves what it has, and a load balancer must not take every
    // edge of a fleet out at once because their shared Redis went away.
    const reasons = ctx.degraded?.() ?? [];
    return reasons.length ? { status: 'degraded', reasons } : { status: 'ready' };
  });

  app.get('/api/v1/status', async (_req, reply) => {
    const c = running();
    const rt = ctx.runtime();
    const d = document.read();
    reply.header('etag', d.etag);
    return {
      version: VERSION, pid: process.pid, mode: rt.mode, workers: rt.workers, ready: rt.ready,
      listeners: { ...rt.listeners, admin: ctx.address() },
      counts: { proxies: c.proxies.length, vms: c.vms.length, certificates: buildRouteTable(c).certTargets.length,
        ...(rt.inFlight !== undefined ? { inFlight: rt.inFlight } : {}), ...(rt.webSockets !== undefined ? { webSockets: rt.webSockets } : {}) },
      config: { file: file.path, etag: d.etag, source: ctx.rules ? 'redis' : 'file' },
      lastApply: applier.last(),
      ...(ctx.rules ? { fleet: await ctx.rules.status() } : {}),
      ...(ctx.degraded?.().length ? { degraded: ctx.degraded() } : {}),
    };
  });

  app.get('/api/v1/certs', async (_req, reply) => {
    reply.header('etag', document.read().etag);
    return { certificates: await certificateViews(running(), ctx.store, ctx.clock.now()) };
  });

  app.post('/api/v1/certs/:name/renew', async (req: FastifyRequest<{ Params: { name: string } }>, reply) => {
    const name = normalDomain(req.params.name);
    const target = renewalTargets(buildRouteTable(running())).find((t) => t.name === name);
    if (!target) throw new EdgeError(ErrorCodes.ADMIN_NOT_FOUND, `no certificate named ${req.params.name} is needed by the running config`);
    if (target.source === 'upload') throw new EdgeError(ErrorCodes.ADMIN_CONFLICT, `${name} is an uploaded certificate: replace its files to renew it`);
    const renewal = ctx.renewal();
    if (!renewal) throw new EdgeError(ErrorCodes.ADMIN_NOT_READY, 'this process has no renewal service');
    const [r] = await renewal.renew({ domain: name, force: true }, 'admin API');
    if (r?.action !== 'renewed') {
      const cause = r?.error ?? { code: ErrorCodes.ISSUE_FAILED, message: r?.reason ?? 'not renewed' };
      return reply.code(statusOf(ErrorCodes.ISSUE_FAILED)).send({ error: { code: ErrorCodes.ISSUE_FAILED,
        message: `${name} was not renewed: ${cause.code} ${cause.message}`, cause } });
    }
    return { name: r.name, source: r.source, before: r.before, notAfter: r.after, reason: r.reason };
  });

  const spec = openApiDocument(VERSION);
  app.get('/api/v1/openapi.json', async () => spec);
}
