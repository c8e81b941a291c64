/**
 * The admin API's listener (fastify): its own address (`admin.listen`, never a public port), the guard
 * (Host, cross-origin writes, bearer token) before any body is read, one error shape for everything it
 * refuses (`{"error":{"code","message","issues"?}}`, statuses from errors.ts statusOf), and the routes of
 * routes-config.ts, routes-state.ts and routes-observe.ts, and the dashboard (dashboard.ts). A request is
 * authorised by the bearer token or by a dashboard session cookie. Every write goes through one
 * ConfigUpdater, so writes are serialised and each one goes through the apply pipeline.
 */
import { chmod, rm } from 'node:fs/promises';
import net from 'node:net';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Clock } from '../clock.ts';
import type { ApplyResult } from '../config/apply.ts';
import type { ConfigFile } from '../config/file.ts';
import type { EdgeConfig } from '../config/schema.ts';
import { createConfigUpdater, type ApplyTarget, type ConfigUpdater } from '../config/update.ts';
import { ConfigError, EdgeError, ErrorCodes, statusOf } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Observability } from '../metrics/observer.ts';
import type { RenewalService } from '../renewal/service.ts';
import type { CertStore } from '../tls/store.ts';
import { parseAdminListen, tokenFileOf, type AdminAddress, type AdminConfig } from './config.ts';
import { CsvError } from './csv.ts';
import { registerDashboard } from './dashboard.ts';
import { addressText, createGuard } from './guard.ts';
import { registerConfigRoutes } from './routes-config.ts';
import { registerObserveRoutes } from './routes-observe.ts';
import { registerForwardRoutes } from './routes-forwards.ts';
import { registerStateRoutes } from './routes-state.ts';
import { createSessions } from './session.ts';
import { bearerMatches, ensureAdminToken } from './token.ts';

/** What the process running the admin API is doing now (single edge or a workers group's primary). */
export interface AdminRuntime {
  readonly mode: 'single' | 'workers';
  readonly workers: number;
  /** Listeners up and a config applied (GET /readyz). */
  readonly ready: boolean;
  readonly listeners: { readonly host: string; readonly http: number | null; readonly https: number | null };
  readonly inFlight?: number;
  readonly webSockets?: number;
}

/** With config.source: redis the rules are the fleet document: the API reads and writes it instead of the file. */
export interface AdminRules {
  /** The fleet document as this edge last saw it, and its ETag. */
  read(): { readonly etag: string; readonly value: unknown };
  readonly updater: ConfigUpdater;
  /** The fleet's view for GET /api/v1/status: versions, and what every edge runs or refused. */
  status(): Promise<unknown>;
}

export interface AdminDeps {
  readonly file: ConfigFile;
  /** The fleet document, when the rules live there (config.source: redis). */
  readonly rules?: AdminRules | undefined;
  /** Why the edge is degraded now (it serves, but e.g. its Redis cannot be reached); GET /readyz says them. */
  degraded?(): readonly string[];
  /** The apply pipeline the writes go through, and what it runs. */
  readonly applier: ApplyTarget & { current(): EdgeConfig | null; last(): ApplyResult | null };
  readonly store: CertStore;
  renewal(): RenewalService | null;
  runtime(): AdminRuntime;
  /** Metrics, traffic statistics and activity of the whole edge. */
  readonly observability: Observability;
  readonly log: Logger;
  readonly clock: Clock;
}

/** What the routes share. */
export interface AdminContext extends AdminDeps {
  readonly settings: AdminConfig;
  /** The rules document the routes read (the fleet document, else the file) and the writes go to. */
  readonly document: { read(): { readonly etag: string; readonly value: unknown } };
  readonly updater: ConfigUpdater;
  /** Where this listener is bound (for GET /status). */
  address(): string;
}

export interface AdminServer {
  /** `http://127.0.0.1:8081` (the real port when 0 was configured) or `unix:/path`. */
  readonly url: string;
  readonly tokenFile: string;
  close(): Promise<void>;
}

/** The error body every refusal has; `issues` for config and CSV refusals. */
export function sendError(reply: FastifyReply, e: EdgeError, extra: Record<string, unknown> = {}): FastifyReply {
  // Config issues keep the contract's shape (path, message); lines and readable paths are for people.
  const issues = e instanceof ConfigError ? { issues: e.issues.map((i) => ({ path: i.path, message: i.message })) }
    : e instanceof CsvError ? { issues: e.issues } : {};
  return reply.code(statusOf(e.code)).send({ error: { code: e.code, message: e.message, ...issues, ...extra } });
}

function asEdgeError(err: FastifyError | Error, limit: number): EdgeError {
  if (err instanceof EdgeError) return err;
  const status = (err as FastifyError).statusCode ?? 500;
  if (status === 413) return new EdgeError(ErrorCodes.ADMIN_TOO_LARGE, `the body is larger than admin.maxBodyBytes (${limit} bytes)`);
  if (status === 415) return new EdgeError(ErrorCodes.ADMIN_MEDIA_TYPE, `${err.message}: send application/json (text/csv to the import)`);
  if (status >= 400 && status < 500) return new EdgeError(ErrorCodes.ADMIN_BAD_REQUEST, err.message);
  return new EdgeError(ErrorCodes.INTERNAL, `the admin API failed: ${err.message}`, { cause: err });
}

/** A unix socket left by an edge that died is removed; one another process still answers on is an error. */
async function clearStaleSocket(path: string): Promise<void> {
  const alive = await new Promise<boolean>((resolve) => {
    const s = net.connect({ path }, () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
  if (alive) throw new EdgeError(ErrorCodes.LISTEN, `cannot listen for the admin API on unix:${path}: another process listens there`);
  await rm(path, { force: true });
}

async function listen(app: FastifyInstance, at: AdminAddress): Promise<AdminAddress> {
  try {
    if (at.kind === 'unix') {
      await clearStaleSocket(at.path);
      await app.listen({ path: at.path });
      // The token guards it; the mode keeps other users from even connecting.
      await chmod(at.path, 0o660);
      return at;
    }
    await app.listen({ host: at.host, port: at.port });
    return { ...at, port: (app.server.address() as net.AddressInfo).port };
  } catch (err) {
    if (err instanceof EdgeError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new EdgeError(ErrorCodes.LISTEN, `cannot listen for the admin API on ${addressText(at)}: ${code}`, { cause: err });
  }
}

/**
 * Starts the admin API when `config.admin.listen` is set (null otherwise): makes the token file when it is
 * missing, listens, and logs where (never the token).
 */
export async function startAdmin(config: EdgeConfig, deps: AdminDeps): Promise<AdminServer | null> {
  const settings = config.admin;
  const wanted = settings?.listen === undefined ? null : parseAdminListen(settings.listen);
  if (!settings || !wanted) return null;
  const { log } = deps;
  const tokenFile = tokenFileOf(settings, deps.file.path);
  const { token, created, shared } = await ensureAdminToken(tokenFile);
  if (shared) log.warn({ tokenFile }, 'the admin token file is readable by group or others: chmod 600 it');

  const app = Fastify({ logger: false, bodyLimit: settings.maxBodyBytes, forceCloseConnections: true, routerOptions: { maxParamLength: 512 } });
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('text/csv', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  app.setErrorHandler((err, req, reply) => {
    const e = asEdgeError(err as Error, settings.maxBodyBytes);
    if (e.code === ErrorCodes.INTERNAL) log.error({ err, method: req.method, url: req.url }, 'admin request failed');
    return sendError(reply, e);
  });
  app.setNotFoundHandler((req, reply) => sendError(reply, new EdgeError(ErrorCodes.ADMIN_NOT_FOUND, `no such endpoint: ${req.method} ${req.url.split('?')[0]}`)));

  let guard = createGuard(wanted, settings.allowedHosts);
  const sessions = createSessions();
  app.addHook('onRequest', async (req, reply) => {
    reply.header('cache-control', 'no-store');
    const write = req.method !== 'GET' && req.method !== 'HEAD';
    const refused = guard.refusal(req.headers, write);
    if (refused) throw refused;
    if ((req.routeOptions.config as { open?: boolean }).open) return;
    if (!bearerMatches(req.headers.authorization, token)) {
      if (!sessions.valid(req.headers.cookie)) {
        reply.header('www-authenticate', 'Bearer realm="idcs-edge admin"');
        throw new EdgeError(ErrorCodes.ADMIN_UNAUTHORIZED, 'missing or wrong bearer token: send Authorization: Bearer <the token in admin.tokenFile>');
      }
      // A write on the session cookie comes from the dashboard's own page: a browser sends Origin with every
      // fetch that is not a GET (Fetch standard), and the guard has checked it names this listener.
      if (write && typeof req.headers.origin !== 'string') {
        throw new EdgeError(ErrorCodes.ADMIN_FORBIDDEN, 'a write with the session cookie needs the Origin header of the dashboard');
      }
    }
    if (write && deps.applier.current() === null) throw new EdgeError(ErrorCodes.ADMIN_NOT_READY, 'the edge has not applied its first config yet');
  });
  app.addHook('onResponse', async (req, reply) => {
    // Health probes, scrapes and the dashboard's polling (reads on its cookie) come every few seconds:
    // debug, so they do not drown the writes.
    const polling = req.method === 'GET' && (req.url === '/metrics' || req.headers.authorization === undefined);
    const level = (req.routeOptions.config as { open?: boolean }).open || polling ? 'debug' : 'info';
    log[level]({ method: req.method, path: req.url.split('?')[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'admin request');
  });

  let url = addressText(wanted);
  const ctx: AdminContext = { ...deps, settings, address: () => url, document: deps.rules ?? deps.file,
    updater: deps.rules?.updater ?? createConfigUpdater({ file: deps.file, target: deps.applier, now: () => deps.clock.now() }) };
  registerConfigRoutes(app, ctx);
  registerForwardRoutes(app, ctx);
  registerStateRoutes(app, ctx);
  registerObserveRoutes(app, ctx);
  registerDashboard(app, { token, sessions, log });

  const bound = await listen(app, wanted);
  guard = createGuard(bound, settings.allowedHosts);
  url = addressText(bound);
  log.info({ address: url, tokenFile, tokenCreated: created }, 'admin API listening');
  return {
    url,
    tokenFile,
    async close() {
      await app.close();
    },
  };
}
