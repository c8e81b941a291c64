/**
 * `workers: N`: N processes serve traffic (node:cluster), one primary owns what must happen once per host:
 * watching the config, the demo VM, ACME and the renewal schedule. Workers reload when the primary says
 * the config changed (each validates it again), pick up new certificates through the store's change watch,
 * and send the primary names that need issuing. A worker that dies is replaced.
 */
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { systemClock } from './clock.ts';
import { createControlPlane } from './control.ts';
import { loadConfigFile } from './config/load.ts';
import type { EdgeConfig } from './config/schema.ts';
import { watchConfigFile } from './config/watch.ts';
import { startDemoVm } from './demo/server.ts';
import { ConfigError, ErrorCodes } from './errors.ts';
import { createLogger } from './log.ts';
import { startEdge } from './main.ts';
import type { RenewTarget } from './renewal/renew.ts';
import { buildRouteTable } from './routing/table.ts';
import { storageFor } from './storage/open.ts';
import { createSelfSignedIssuer } from './tls/selfsigned.ts';
import { createCertStore } from './tls/store.ts';
import { uploadIssues } from './tls/upload.ts';

/** Messages between primary and workers. */
type ToWorker = { type: 'reload' } | { type: 'shutdown' };
type ToPrimary = { type: 'issue'; target: RenewTarget; reason: string } | { type: 'ready' };

export function workerCount(c: EdgeConfig): number {
  return c.workers === 'auto' ? availableParallelism() : c.workers;
}

/** Runs the primary until SIGTERM/SIGINT; resolves to the exit code. */
export async function runPrimary(configFile: string): Promise<number> {
  const file = resolve(configFile);
  let config = loadConfigFile(file);
  const { log, close: closeLog } = createLogger({ level: config.log.level, file: config.log.file });
  const clock = systemClock;
  const storage = storageFor(config, log);
  const store = createCertStore({ storage, log, clock });
  // Certificates are served by the workers, which see the store change on their own.
  const control = createControlPlane({ store, storage, selfSigned: createSelfSignedIssuer({ clock }), config, log, clock, onStored: async () => {} });
  control.apply(config, buildRouteTable(config));
  const demo = config.demo.enabled ? await startDemoVm(config.demo.port) : null;
  if (demo) log.info({ port: demo.port }, 'demo VM started (demo.enabled: true): a page and a WebSocket echo on 127.0.0.1');

  const n = workerCount(config);
  let stopping = false;
  let started = false;
  const broadcast = (m: ToWorker) => { for (const w of Object.values(cluster.workers ?? {})) w?.send(m); };

  const fork = (): Worker => {
    const w = cluster.fork({ IDCS_EDGE_WORKER: '1' });
    w.on('message', (m: ToPrimary) => {
      if (m.type === 'issue') control.renewal.request(m.target, m.reason);
      if (m.type === 'ready' && !started) {
        // HTTP-01 is answered by the workers' listeners: issuance starts once one of them listens.
        started = true;
        control.renewal.start();
        void control.renewal.scan('start');
      }
    });
    return w;
  };
  cluster.on('exit', (w, code, signal) => {
    if (stopping) return;
    log.error({ worker: w.process.pid, code, signal }, 'worker died: starting a new one');
    setTimeout(() => { if (!stopping) fork(); }, 1000).unref();
  });
  for (let i = 0; i < n; i++) fork();
  log.info({ workers: n, pid: process.pid }, 'idcs-edge primary started');

  const reload = () => {
    try {
      const next = loadConfigFile(file);
      // The workers refuse unusable uploads; the primary must not follow a config they refuse.
      const uploads = uploadIssues(next.proxies, clock.now());
      if (uploads.length) throw new ConfigError(ErrorCodes.CONFIG_INVALID, 'invalid uploaded certificates', { file, issues: uploads });
      if (workerCount(next) !== n) log.warn({ workers: next.workers }, 'a new number of workers applies after a restart');
      control.apply(next, buildRouteTable(next));
      config = next;
      broadcast({ type: 'reload' });
    } catch (err) {
      const issues = err instanceof ConfigError ? err.issues : undefined;
      log.error({ file, issues, err: (err as Error).message }, 'config not reloaded, the running config keeps serving');
    }
  };
  const watcher = watchConfigFile(file, reload);

  return new Promise((resolveExit) => {
    const stop = (signal: string) => {
      if (stopping) { resolveExit(1); return; }
      stopping = true;
      log.info({ signal }, 'signal received: draining workers');
      watcher.close();
      broadcast({ type: 'shutdown' });
      const deadline = setTimeout(() => {
        log.warn('workers did not stop within the grace period: killing them');
        for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
      }, config.shutdown.graceMs + 5000);
      const done = async () => {
        if (Object.keys(cluster.workers ?? {}).length > 0) return;
        clearTimeout(deadline);
        await control.close();
        await storage.close();
        await demo?.close();
        log.info('stopped');
        closeLog();
        resolveExit(0);
      };
      cluster.on('exit', () => { void done(); });
      void done();
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', reload);
  });
}

/** Runs one worker: an edge without control plane, steered by the primary. Resolves to the exit code. */
export async function runWorker(configFile: string): Promise<number> {
  const send = (m: ToPrimary) => process.send?.(m);
  const edge = await startEdge({
    configFile, worker: true, watch: false,
    requestIssue: (target, reason) => send({ type: 'issue', target, reason }),
  });
  send({ type: 'ready' });
  return new Promise((resolveExit) => {
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      edge.close().then(() => resolveExit(0), () => resolveExit(1));
    };
    process.on('message', (m: ToWorker) => {
      if (m.type === 'reload') void edge.reload();
      if (m.type === 'shutdown') stop();
    });
    // The primary forwards signals as messages; a signal sent to a worker directly drains it too.
    process.on('SIGTERM', stop);
    process.on('SIGINT', () => {});
    process.on('disconnect', stop);
  });
}
