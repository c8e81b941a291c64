/**
 * The primary of a `workers: N` edge: it serves no traffic but owns what must happen once per host, which
 * is watching the config file, the demo VM, ACME and the renewal schedule. Config changes go through its
 * apply pipeline, whose parts are the control plane and the worker group: validated once here, prepared by
 * every worker, committed by all or none. Workers never read the config file.
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { systemClock } from '../clock.ts';
import { createApplier, refusalError } from '../config/apply.ts';
import { checkConfig } from '../config/check.ts';
import { loadConfigFile } from '../config/load.ts';
import type { EdgeConfig } from '../config/schema.ts';
import { watchConfigFile, type ConfigWatcher } from '../config/watch.ts';
import { createControlPlane } from '../control.ts';
import { startDemoVm } from '../demo/server.ts';
import { createLogger } from '../log.ts';
import { runUntilStopped, STOP_MARGIN_MS } from '../signals.ts';
import { createSelfSignedIssuer } from '../tls/selfsigned.ts';
import { createCertStore } from '../tls/store.ts';
import { storageFor } from '../storage/open.ts';
import { createWorkerGroup } from './group.ts';

export function workerCount(c: EdgeConfig): number {
  return c.workers === 'auto' ? availableParallelism() : c.workers;
}

/** Runs the primary until SIGTERM/SIGINT; resolves to the exit code. */
export async function runPrimary(configFile: string): Promise<number> {
  const file = resolve(configFile);
  const first = loadConfigFile(file);
  const logs = createLogger({ level: first.log.level, file: first.log.file });
  const { log } = logs;
  const clock = systemClock;
  const storage = storageFor(first, log);
  const store = createCertStore({ storage, log, clock });
  // Certificates are served by the workers, which see the store change on their own.
  const control = createControlPlane({ store, storage, selfSigned: createSelfSignedIssuer({ clock }), log, clock, onStored: async () => {} });
  let started = false;
  const group = createWorkerGroup({
    count: workerCount(first), log, prepareTimeoutMs: 60_000,
    onMessage(m) {
      if (m.type === 'issue') control.renewal().request(m.target, m.reason);
      if (m.type === 'ready' && !started) {
        // HTTP-01 is answered by the workers' listeners: issuance starts once one of them listens.
        started = true;
        control.start();
      }
    },
  });
  const applier = createApplier({ parts: [control, group], check: (c) => checkConfig(c, clock.now()), log });
  let watcher: ConfigWatcher | null = null;
  let demo: Awaited<ReturnType<typeof startDemoVm>> | null = null;
  const run = runUntilStopped({
    log: () => log,
    reload: () => { void applier.apply({ file }, 'signal'); },
    // The workers write the same file through descriptors of their own: each reopens its own.
    reopenLogs() {
      logs.reopen();
      group.send({ type: 'reopen' });
    },
    flushLogsSync: () => logs.flushSync(),
    deadlineMs: () => (applier.current() ?? first).shutdown.graceMs + STOP_MARGIN_MS,
    // Already draining: the workers exit at once on a second SIGTERM too.
    onExitNow: () => group.signal('SIGTERM'),
    async drain() {
      watcher?.close();
      await group.stop((applier.current() ?? first).shutdown.graceMs);
      await control.close();
      await storage.close();
      await demo?.close();
      log.info('stopped');
      await logs.close();
    },
  });
  const result = await applier.apply({ config: first }, 'start');
  if (!result.ok) {
    await group.stop(0);
    await logs.close();
    throw refusalError(result);
  }
  demo = first.demo.enabled ? await startDemoVm(first.demo.port) : null;
  if (demo) log.info({ port: demo.port }, 'demo VM started (demo.enabled: true): a page and a WebSocket echo on 127.0.0.1');
  log.info({ workers: workerCount(first), pid: process.pid }, 'idcs-edge primary started');
  watcher = watchConfigFile(file, () => { void applier.apply({ file }, 'file'); });
  return run.exited;
}
