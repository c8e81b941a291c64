/**
 * The Docker HEALTHCHECK (or any supervisor's liveness probe): asks the running edge whether it is alive.
 * With an admin listener, `GET /healthz` there must answer 200 (logged at debug, so probes do not fill the
 * log); without one, the HTTP listener (else the HTTPS one) must answer an HTTP request, any status: the edge
 * answers every request, if only with its 404 page, so an answer means its event loop runs (a hung process
 * still accepts TCP connections from the kernel's backlog, which is why a bare connect is not enough).
 *
 * Where to ask comes from where the edge takes it: IDCS_EDGE_ADMIN_LISTEN, IDCS_EDGE_HTTP_PORT and
 * IDCS_EDGE_HTTPS_PORT (config/env.ts), then the config file (the argument, else IDCS_EDGE_CONFIG, else
 * config/edge.yaml) read as plain YAML and never validated: a config that is being edited, or that the
 * running edge refused, must not make a healthy edge unhealthy (the running edge keeps its last good
 * config). Exit 0 healthy, 1 not, with one line saying what was asked and what came back.
 */
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { adminClient } from './admin/client.ts';
import { parseAdminListen } from './admin/config.ts';
import { dialHost } from './admin/guard.ts';

const TIMEOUT_MS = 3000;

type Doc = { listen?: { http?: unknown; https?: unknown; host?: unknown }; admin?: { listen?: unknown } };

/** The config file's listeners as far as they can be read; {} when the file cannot be read or parsed. */
function readLoosely(file: string): Doc {
  try {
    const d = parse(readFileSync(file, 'utf8')) as unknown;
    return typeof d === 'object' && d !== null ? d as Doc : {};
  } catch {
    return {};
  }
}

const num = (env: string | undefined, v: unknown, dflt: number): number =>
  env ? Number(env) : typeof v === 'number' ? v : dflt;

/** One HTTP(S) request to the edge's own listener; resolves to its status, rejects when nothing answers. */
function ask(scheme: 'http' | 'https', host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const mod = scheme === 'https' ? https : http;
    const req = mod.request({ host, port, path: '/', agent: false, headers: { host: 'healthcheck.invalid' },
      ...(scheme === 'https' ? { servername: 'healthcheck.invalid', rejectUnauthorized: false } : {}) }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.setTimeout(TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Resolves to [healthy, what was found]. */
export async function checkHealth(file: string, env: NodeJS.ProcessEnv = process.env): Promise<[boolean, string]> {
  const doc = readLoosely(file);
  const adminText = env.IDCS_EDGE_ADMIN_LISTEN || (typeof doc.admin?.listen === 'string' ? doc.admin.listen : undefined);
  const admin = adminText ? parseAdminListen(adminText) : null;
  try {
    // Port 0 is a free port the probe cannot know: ask the traffic listener then.
    if (admin && !(admin.kind === 'tcp' && admin.port === 0)) {
      const r = await adminClient(admin, null, TIMEOUT_MS).request('GET', '/healthz');
      return [r.status === 200, `admin ${adminText} /healthz answered ${r.status}`];
    }
    const host = dialHost(typeof doc.listen?.host === 'string' ? doc.listen.host : '0.0.0.0');
    const httpPort = num(env.IDCS_EDGE_HTTP_PORT, doc.listen?.http, 80);
    const httpsPort = num(env.IDCS_EDGE_HTTPS_PORT, doc.listen?.https, 443);
    const [scheme, port] = httpPort !== 0 ? ['http', httpPort] as const : ['https', httpsPort] as const;
    const status = await ask(scheme, host, port);
    return [status > 0, `${scheme}://${host}:${port}/ answered ${status}`];
  } catch (err) {
    return [false, `${adminText ? `admin ${adminText}` : 'the edge'} did not answer: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`];
  }
}

// Run when executed directly: `node src/healthcheck.ts [config file]`.
if (process.argv[1] && import.meta.filename === (await import('node:fs')).realpathSync(process.argv[1])) {
  const [ok, what] = await checkHealth(process.argv[2] || process.env.IDCS_EDGE_CONFIG || 'config/edge.yaml');
  process.stdout.write(`${ok ? 'healthy' : 'unhealthy'}: ${what}\n`);
  process.exitCode = ok ? 0 : 1;
}
