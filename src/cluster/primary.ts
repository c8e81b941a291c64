/**
 * The primary of a `workers: N` edge: it serves no traffic but owns what must happen once per host, which
 * is watching the config file, the demo VM, ACME and the renewal schedule. Config changes go through its
 * apply pipeline, whose parts are the control plane and the worker group: validated once here, prepared by
 * every worker, committed by all or none. Workers never read the config file.
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { startAdmin } from '../admin/server.ts';
import { systemClock } from '../clock.ts';
import { createApplier, refusalError, type ApplySource } from '../config/apply.ts';
import { checkConfig, configWarnings } from '../config/check.ts';
import { openConfigFile, reloadUnlessOwnWrite } from '../config/file.ts';
import { loadConfigFile } from '../config/load.ts';
import type { EdgeConfig } from '../config/schema.ts';
import { watchConfigFile } from '../config/watch.ts';
import { createControlPlane } from '../control.ts';
import { startDemoVm } from '../demo/server.ts';
import { createForwardsPart } from '../l4/forwards.ts';
import { createLogger } from '../log.ts';
import { createPolicyPart } from '../policy/policies.ts';
import { localCa } from '../tls/local-ca.ts';
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
  const { log, close: closeLog } = createLogger({ level: first.log.level, file: first.log.file });
  const clock = systemClock;
  const storage = storageFor(first, log);
  const store = createCertStore({ storage, log, clock });
  // Certificates are served by the workers, which see the store change on their own.
  const control = createControlPlane({ store, storage, selfSigned: createSelfSignedIssuer({ clock, ca: localCa({ storage, clock, log }) }), log, clock, onStored: async () => {} });
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
  // The primary serves the port forwards: one process, so a UDP client's datagrams all reach one session
  // (node:cluster would spread them over the workers) and a forward's caps and counts are exact.
  const policies = createPolicyPart();
  const forwards = createForwardsPart({ log, policies });
  const applier = createApplier({ parts: [control, policies, forwards, group], check: (c) => checkConfig(c, clock.now()), warn: configWarnings, log });
  // The primary serves the admin API: its writes go through this applier, two-phase across the workers.
  const configDoc = openConfigFile(file);
  const admin = await startAdmin(first, { file: configDoc, applier, store, renewal: () => control.renewal(), log, clock,
    runtime: () => ({ mode: 'workers', workers: workerCount(first), ready: started,
      listeners: { host: first.listen.host, http: first.listen.http || null, https: first.listen.https || null } }) });
  const result = await applier.apply({ config: first }, 'start');
  if (!result.ok) {
    await admin?.close();
    await forwards.close(0);
    closeLog();
    throw refusalError(result);
  }
  const demo = first.demo.enabled ? await startDemoVm(first.demo.port) : null;
  if (demo) log.info({ port: demo.port }, 'demo VM started (demo.enabled: true): a page and a WebSocket echo on 127.0.0.1');
  log.info({ workers: workerCount(first), pid: process.pid }, 'idcs-edge primary started');

  const reload = (source: ApplySource) => { void applier.apply({ file }, source); };
  const watcher = watchConfigFile(file, reloadUnlessOwnWrite(configDoc, log, () => reload('file')));

  return new Promise((resolveExit) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) { resolveExit(1); return; }
      stopping = true;
      log.info({ signal }, 'signal received: draining workers');
      watcher.close();
      void (async () => {
        await admin?.close();
        await forwards.close(0);
        await group.stop(applier.current()!.shutdown.graceMs);
        await control.close();
        await storage.close();
        await demo?.close();
        log.info('stopped');
        closeLog();
        resolveExit(0);
      })();
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => reload('signal'));
  });
}
