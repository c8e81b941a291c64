/**
 * The dashboard on the admin listener: its page at `/`, its ES modules and styles (src/admin/dashboard/)
 * and uPlot from node_modules, all read once at start and served from memory (nothing from a CDN: the edge
 * may run offline), plus sign-in and sign-out. The page holds no data: its scripts call the API with the
 * session cookie (session.ts). A Content-Security-Policy keeps anything but these files out of the page.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { EdgeError, ErrorCodes } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Sessions } from './session.ts';
import { tokenMatches } from './token.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    + "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

interface Asset { readonly type: string; readonly body: Buffer }

/** The dashboard's files by URL path, read now. */
function loadAssets(): Map<string, Asset> {
  const dir = new URL('./dashboard/', import.meta.url);
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (type) assets.set(name === 'index.html' ? '/' : `/assets/${name}`, { type, body: readFileSync(new URL(name, dir)) });
  }
  const uplot = dirname(createRequire(import.meta.url).resolve('uplot'));
  assets.set('/assets/uplot.js', { type: TYPES['.js']!, body: readFileSync(join(uplot, 'uPlot.esm.js')) });
  assets.set('/assets/uplot.css', { type: TYPES['.css']!, body: readFileSync(join(uplot, 'uPlot.min.css')) });
  return assets;
}

/** Registers the page, its assets and the session routes (all open: the page holds no data, the API checks). */
export function registerDashboard(app: FastifyInstance, o: { token: string; sessions: Sessions; log: Logger }): void {
  const assets = loadAssets();
  const open = { config: { open: true } };
  const serve = (asset: Asset) => async (_req: FastifyRequest, reply: FastifyReply) =>
    reply.headers(SECURITY_HEADERS).type(asset.type).send(asset.body);
  for (const [path, asset] of assets) app.get(path, open, serve(asset));

  app.get('/api/v1/session', open, async (req) => ({ signedIn: o.sessions.valid(req.headers.cookie) }));
  app.post('/api/v1/session', open, async (req: FastifyRequest<{ Body: unknown }>, reply) => {
    const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (ct !== 'application/json') throw new EdgeError(ErrorCodes.ADMIN_MEDIA_TYPE, 'expected Content-Type: application/json');
    const body = req.body as { token?: unknown } | null;
    if (typeof body?.token !== 'string' || !tokenMatches(body.token.trim(), o.token)) {
      o.log.warn({ client: req.ip }, 'dashboard sign-in refused: wrong token');
      throw new EdgeError(ErrorCodes.ADMIN_UNAUTHORIZED, 'wrong token: paste the token in admin.tokenFile');
    }
    o.log.info({ client: req.ip }, 'dashboard signed in');
    return reply.header('set-cookie', o.sessions.create()).code(204).send();
  });
  app.delete('/api/v1/session', open, async (req, reply) =>
    reply.header('set-cookie', o.sessions.end(req.headers.cookie)).code(204).send());
}
