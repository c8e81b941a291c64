/**
 * The admin routes that read and write the config document: proxies (by domain), VMs (by owner/name), the
 * whole document, and the CSV import. Reads answer from the file as it is on disk (what the operator reads,
 * with the ETag a write's If-Match is checked against), or with config.source: redis from the fleet
 * document; writes go through the ConfigUpdater (the file's or the fleet's).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { UpdateOutcome } from '../config/update.ts';
import { EdgeError, ErrorCodes } from '../errors.ts';
import { parseProxyCsv } from './csv.ts';
import { deleteItem, findItem, importRows, normalDomain, proxyBody, proxyKey, putItem, replaceDocument, vmBody, vmKey } from './edits.ts';
import type { AdminContext } from './server.ts';
import { proxyStatusOf, proxyStatuses } from './views.ts';

export type Req = FastifyRequest<{ Params: Record<string, string>; Querystring: Record<string, string> }>;

/** The request's body, when its Content-Type is `type`; 415 otherwise. */
export function bodyOf(req: Req, type: 'application/json' | 'text/csv'): unknown {
  const got = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (got !== type) throw new EdgeError(ErrorCodes.ADMIN_MEDIA_TYPE, `expected Content-Type: ${type}${got ? `, not ${got}` : ''}`);
  return req.body;
}

export const ifMatch = (req: Req) => (typeof req.headers['if-match'] === 'string' ? req.headers['if-match'] : undefined);

/** A write's answer: the apply result (what changed) and the new document's ETag; 201 when it created something. */
export function sendWrite(reply: FastifyReply, o: UpdateOutcome<unknown>, created = false, extra: Record<string, unknown> = {}): FastifyReply {
  return reply.header('etag', o.etag).code(created ? 201 : 200).send({ ...(o.result ?? { ok: true }), ...o.extra, ...extra });
}

const vmId = (p: Record<string, string>) => `${p.owner!.trim().toLowerCase()}/${p.name!.trim().toLowerCase()}`;

/** The document (on disk, or the fleet's), and its ETag set on the reply. */
export function readDocument(ctx: AdminContext, reply: FastifyReply): Record<string, unknown> {
  const d = ctx.document.read();
  reply.header('etag', d.etag);
  return (typeof d.value === 'object' && d.value !== null ? d.value : {}) as Record<string, unknown>;
}

/** `?dryRun=1` (or true, yes): validate only. */
export const dryRunOf = (req: Req) => ['1', 'true', 'yes'].includes(String(req.query.dryRun ?? '').toLowerCase());

/** Registers the document routes on `app`: reads from the file on disk, writes through ctx.updater. */
export function registerConfigRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const { updater } = ctx;
  const read = (reply: FastifyReply) => readDocument(ctx, reply);
  const notFound = (what: string) => new EdgeError(ErrorCodes.ADMIN_NOT_FOUND, `no ${what} in the config`);
  const withStatus = async (proxies: unknown[]) => {
    const statuses = await proxyStatuses(ctx.applier.current(), ctx.store);
    return proxies.map((p) => ({ ...(p as object), status: proxyStatusOf(proxyKey(p as Record<string, unknown>), statuses) }));
  };

  app.get('/api/v1/proxies', async (_req, reply) => {
    const doc = read(reply);
    return { proxies: await withStatus(Array.isArray(doc.proxies) ? doc.proxies : []) };
  });
  app.get('/api/v1/proxies/:domain', async (req: Req, reply) => {
    const p = findItem(read(reply), 'proxies', normalDomain(req.params.domain));
    if (!p) throw notFound(`proxy for ${req.params.domain}`);
    return (await withStatus([p]))[0];
  });
  app.put('/api/v1/proxies/:domain', async (req: Req, reply) => {
    const item = proxyBody(bodyOf(req, 'application/json'), req.params.domain!);
    const o = await updater.update(putItem('proxies', normalDomain(req.params.domain), item), { ifMatch: ifMatch(req) });
    return sendWrite(reply, o, o.detail.created);
  });
  app.delete('/api/v1/proxies/:domain', async (req: Req, reply) =>
    sendWrite(reply, await updater.update(deleteItem('proxies', normalDomain(req.params.domain), `proxy for ${req.params.domain}`), { ifMatch: ifMatch(req) })));

  app.get('/api/v1/vms', async (_req, reply) => {
    const doc = read(reply);
    return { vms: Array.isArray(doc.vms) ? doc.vms : [] };
  });
  app.get('/api/v1/vms/:owner/:name', async (req: Req, reply) => {
    const v = findItem(read(reply), 'vms', vmId(req.params));
    if (!v) throw notFound(`VM ${vmId(req.params)}`);
    return v;
  });
  app.put('/api/v1/vms/:owner/:name', async (req: Req, reply) => {
    const item = vmBody(bodyOf(req, 'application/json'), req.params.owner!, req.params.name!);
    const o = await updater.update(putItem('vms', vmKey(item), item), { ifMatch: ifMatch(req) });
    return sendWrite(reply, o, o.detail.created);
  });
  app.delete('/api/v1/vms/:owner/:name', async (req: Req, reply) =>
    sendWrite(reply, await updater.update(deleteItem('vms', vmId(req.params), `VM ${vmId(req.params)}`), { ifMatch: ifMatch(req) })));

  app.get('/api/v1/config', async (_req, reply) => read(reply));
  app.put('/api/v1/config', async (req: Req, reply) =>
    sendWrite(reply, await updater.update(replaceDocument(bodyOf(req, 'application/json')), { ifMatch: ifMatch(req) })));

  app.post('/api/v1/import/proxies', async (req: Req, reply) => {
    const dryRun = dryRunOf(req);
    const body = bodyOf(req, 'text/csv');
    const rows = parseProxyCsv(typeof body === 'string' ? body : '');
    const o = await updater.update(importRows(rows), { ifMatch: ifMatch(req), dryRun });
    return sendWrite(reply, o, false, { dryRun, import: o.detail });
  });
}
