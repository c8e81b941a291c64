/**
 * The admin routes of port forwards: the list, one forward by protocol and port
 * (`/api/v1/forwards/tcp/10022`, `/api/v1/forwards/udp/2000-2009`), and the CSV import
 * (`protocol,host_port,vm_ip,vm_port,note`). Like the proxy routes: reads from the file on disk with its
 * ETag, writes through the ConfigUpdater (validated, applied by every part, then written).
 */
import type { FastifyInstance } from 'fastify';
import { parsePortRange, portText } from '../l4/config.ts';
import { EdgeError, ErrorCodes } from '../errors.ts';
import { FORWARD_COLUMN_OF, parseForwardCsv } from './csv-forwards.ts';
import { deleteItem, findItem, forwardKey, importItems, objectBody, putItem } from './edits.ts';
import { bodyOf, dryRunOf, ifMatch, readDocument, sendWrite, type Req } from './routes-config.ts';
import type { AdminContext } from './server.ts';

/** `tcp/10022` from the path; 400 when the protocol or the ports are not ones. */
function pathKey(p: Record<string, string>): { key: string; protocol: string; port: string } {
  const protocol = (p.protocol ?? '').toLowerCase();
  if (protocol !== 'tcp' && protocol !== 'udp') throw new EdgeError(ErrorCodes.ADMIN_BAD_REQUEST, `expected tcp or udp in the path, not ${JSON.stringify(p.protocol)}`);
  const r = parsePortRange(p.port);
  if (typeof r === 'string') throw new EdgeError(ErrorCodes.ADMIN_BAD_REQUEST, `the path's port ${JSON.stringify(p.port)}: ${r}`);
  return { key: `${protocol}/${portText(r)}`, protocol, port: portText(r) };
}

/** A forward body for PUT: protocol and port are the path's (given in the body, they must be the same). */
function forwardBody(body: unknown, at: { key: string; protocol: string; port: string }): Record<string, unknown> {
  const f = objectBody(body, 'a forward');
  const item = { ...f, protocol: f.protocol ?? at.protocol, port: f.port ?? (/^\d+$/.test(at.port) ? Number(at.port) : at.port) };
  if (forwardKey(item) !== at.key) {
    throw new EdgeError(ErrorCodes.ADMIN_BAD_REQUEST, `the body's forward ${forwardKey(item)} is not the path's ${at.key}`);
  }
  return item;
}

export function registerForwardRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const { updater } = ctx;
  app.get('/api/v1/forwards', async (_req, reply) => {
    const doc = readDocument(ctx, reply);
    return { forwards: Array.isArray(doc.forwards) ? doc.forwards : [] };
  });
  app.get('/api/v1/forwards/:protocol/:port', async (req: Req, reply) => {
    const at = pathKey(req.params);
    const f = findItem(readDocument(ctx, reply), 'forwards', at.key);
    if (!f) throw new EdgeError(ErrorCodes.ADMIN_NOT_FOUND, `no forward ${at.key} in the config`);
    return f;
  });
  app.put('/api/v1/forwards/:protocol/:port', async (req: Req, reply) => {
    const at = pathKey(req.params);
    const item = forwardBody(bodyOf(req, 'application/json'), at);
    const o = await updater.update(putItem('forwards', at.key, item), { ifMatch: ifMatch(req) });
    return sendWrite(reply, o, o.detail.created);
  });
  app.delete('/api/v1/forwards/:protocol/:port', async (req: Req, reply) => {
    const at = pathKey(req.params);
    return sendWrite(reply, await updater.update(deleteItem('forwards', at.key, `forward ${at.key}`), { ifMatch: ifMatch(req) }));
  });
  app.post('/api/v1/import/forwards', async (req: Req, reply) => {
    const dryRun = dryRunOf(req);
    const body = bodyOf(req, 'text/csv');
    const rows = parseForwardCsv(typeof body === 'string' ? body : '');
    const o = await updater.update(importItems('forwards', rows, FORWARD_COLUMN_OF), { ifMatch: ifMatch(req), dryRun });
    return sendWrite(reply, o, false, { dryRun, import: o.detail });
  });
}
