/**
 * The primary of a `workers: N` edge: it serves no traffic but owns what must happen once per host, which
 * is watching the config file, the admin API, the demo VM, ACME and the renewal schedule, and the traffic
 * statistics (the workers send it their increments). Config changes go through its apply pipeline, whose
 * parts are the control plane, the alerts and the worker group: validated once here, prepared by every
 * worker, committed by all or none. Workers never read the config file.
 */
import { availableParallelism, hostname } from 'node:os';
import { resolve } from 'node:path';
import { startAdmin } from '../admin/server.ts';
import { certificateExpiries, certificateViews } from '../admin/views.ts';
import { createAlertsPart } from '../alerts/part.ts';
import { systemClock } from '../clock.ts';
import { createApplier, refusalError } from '../config/apply.ts';
import { checkConfig, configWarnings } from '../config/check.ts';
import { openConfigFile, reloadUnlessOwnWrite } from '../config/file.ts';
import { loadConfigFile } from '../config/load.ts';
import type { EdgeConfig } from '../config/schema.ts';
import { watchConfigFile, type ConfigWatcher } from '../config/watch.ts';
import { createControlPlane } from '../control.ts';
import { startDemoVm } from '../demo/server.ts';
import { openRules } from '../fleet/source.ts';
import { createForwardsPart } from '../l4/forwards.ts';
import { createLogger } from '../log.ts';
import { groupObservability } from '../metrics/observer.ts';
import { observeForwards } from '../metrics/forwards.ts';
import { createMetrics } from '../metrics/registry.ts';
import { runUntilStopped, STOP_MARGIN_MS } from '../signals.ts';
import { openTrafficStore } from '../stats/traffic.ts';
import { openStorage } from '../storage/open.ts';
import { createPolicyPart } from '../policy/policies.ts';
import { localCa } from '../tls/local-ca.ts';
import { createSelfSignedIssuer } from '../tls/selfsigned.ts';
import { createCertStore } from '../tls/store.ts';
import type { StartupFacts } from '../summary.ts';
import { createWorkerGroup } from './group.ts';
import { startTicketRotation } from '../tls/tickets.ts';

export function workerCount(c: EdgeConfig): number {
  return c.workers === 'auto' ? availableParallelism() : c.workers;
}

/**
 * Runs the primary until SIGTERM/SIGINT; resolves to the exit code. `onReady` is told, once the first
 * worker serves, what the start-up summary shows.
 */
export async function runPrimary(configFile: string, opts: { onReady?(facts: Omit<StartupFacts, 'version'>): void } = {}): Promise<number> {
  const file = resolve(configFile);
  const first = loadConfigFile(file);
  const logs = createLogger({ level: first.log.level, file: first.log.file, format: first.log.format });
  const { log } = logs;
  const clock = systemClock;
  const storage = await openStorage(first, log, { unreachable: 'local-copy' }).catch(async (err: unknown) => { await logs.close(); throw err; });
  // The rules: the file's, or the fleet document's (config.source: redis), followed here and sent to the workers.
  const rules = await openRules({ configFile: file, config: first, storage, log, now: () => clock.now() })
    .catch(async (err: unknown) => { await storage.close(); await logs.close(); throw err; });
  const store = createCertStore({ storage, log, clock });
  // The primary's own metrics (renewals, applies, certificates, its process); the workers' are added per scrape.
  const metrics = createMetrics({ processMetrics: true });
  // Only the primary writes the traffic statistics: the workers send it their increments.
  const traffic = openTrafficStore({ dir: first.data.dir, clock });
  const alerts = createAlertsPart({ storage, log, clock, edge: hostname() });
  // Certificates are served by the workers, which see the store change on their own.
  const control = createControlPlane({ store, storage, selfSigned: createSelfSignedIssuer({ clock, ca: localCa({ storage, clock, log }) }), log, clock,
    onStored: async () => {}, onRenewals: (results) => { metrics.countRenewals(results); alerts.onRenewals(results); },
    leadership: rules.leadership, onLeadership: rules.onLeadership });
  let started = false;
  // One session ticket key for every worker, so a session resumes on whichever worker gets the connection.
  const tickets = startTicketRotation((key) => group.send({ type: 'tickets', key: key.toString('base64') }));
  const group = createWorkerGroup({
    count: workerCount(first), log, prepareTimeoutMs: 60_000,
    ticketKey: () => tickets.current().toString('base64'),
    onMessage(m) {
      if (m.type === 'issue') control.renewal().request(m.target, m.reason);
      if (m.type === 'ready' && !started) {
        // HTTP-01 is answered by the workers' listeners: issuance starts once one of them listens.
        started = true;
        control.start();
        if (opts.onReady) {
          const running = applier.current() ?? first;
          void certificateViews(running, store, clock.now()).catch(() => []).then((certificates) => opts.onReady?.({
            pid: process.pid, workers: workerCount(first), configFile: file, config: running, certificates, now: clock.now(),
            listeners: { host: first.listen.host, http: first.listen.http || null, https: first.listen.https || null },
            admin: admin && { url: admin.url, tokenFile: admin.tokenFile } }));
        }
      }
    },
    onTraffic: (deltas) => traffic.add(deltas),
  });
  // The primary serves the port forwards: one process, so a UDP client's datagrams all reach one session
  // (node:cluster would spread them over the workers) and a forward's caps and counts are exact.
  const policies = createPolicyPart();
  const forwards = createForwardsPart({ log, policies, observer: observeForwards(metrics, traffic) });
  metrics.addSources({ forwardsOpen: () => forwards.openByForward() });
  const applier = createApplier({ parts: [control, alerts, policies, forwards, group], check: (c) => checkConfig(c, clock.now()), warn: configWarnings, log,
    onResult: (r, outcome) => metrics.countApply(r.source, outcome) });
  metrics.addSources({ certificates: () => certificateExpiries(applier.current(), store, clock.now()) });
  rules.registerMetrics(metrics.registry);
  // The primary serves the admin API: its writes go through this applier, two-phase across the workers.
  const configDoc = openConfigFile(file);
  const admin = await startAdmin(first, { file: configDoc, rules: rules.admin(applier), degraded: () => rules.degraded(), applier, store,
    renewal: () => control.renewal(), log, clock,
    observability: groupObservability({ metrics, store: traffic, gather: () => group.gather() }),
    runtime: () => ({ mode: 'workers', workers: workerCount(first), ready: started,
      listeners: { host: first.listen.host, http: first.listen.http || null, https: first.listen.https || null } }) });
  let watcher: ConfigWatcher | null = null;
  let demo: Awaited<ReturnType<typeof startDemoVm>> | null = null;
  const run = runUntilStopped({
    log: () => log,
    reload: () => { void rules.reload(applier, 'signal'); },
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
      await admin?.close();
      await forwards.close(0);
      await group.stop((applier.current() ?? first).shutdown.graceMs);
      tickets.stop();
      await control.close();
      alerts.close();
      // After the workers: their last increments arrive as they stop.
      traffic.close();
      await rules.close();
      await storage.close();
      await demo?.close();
      log.info('stopped');
      await logs.close();
    },
  });
  const result = await applier.apply({ config: rules.first }, 'start');
  if (!result.ok) {
    await admin?.close();
    await forwards.close(0);
    await group.stop(0);
    tickets.stop();
    traffic.close();
    await rules.close();
    await storage.close();
    await logs.close();
    throw refusalError(result);
  }
  rules.follow(applier);
  demo = first.demo.enabled ? await startDemoVm(first.demo.port) : null;
  if (demo) log.info({ port: demo.port }, 'demo VM started (demo.enabled: true): a page and a WebSocket echo on 127.0.0.1');
  log.info({ workers: workerCount(first), pid: process.pid }, 'idcs-edge primary started');
  watcher = watchConfigFile(file, reloadUnlessOwnWrite(configDoc, log, () => { void rules.reload(applier, 'file'); }));
  return run.exited;
}
