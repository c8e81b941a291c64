/**
 * Composition root: build the parts, apply the first config through the apply pipeline, start listening,
 * follow the config file, drain on close. Wiring only: every decision lives in the part it belongs to.
 * `startEdge` can run several times in one process (tests do), because no part keeps module-level state.
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { createChallengeResponder } from './acme/challenges.ts';
import { startAdmin, type AdminServer } from './admin/server.ts';
import { certificateExpiries, certificateViews, type CertView } from './admin/views.ts';
import { createAlertsPart, type AlertsPart } from './alerts/part.ts';
import { systemClock, type Clock } from './clock.ts';
import { createApplier, refusalError, type ApplyInput, type ApplyResult, type ApplySource, type ConfigPart, type PreparedApply } from './config/apply.ts';
import { checkConfig, configWarnings } from './config/check.ts';
import { openConfigFile, reloadUnlessOwnWrite } from './config/file.ts';
import { loadConfigFile } from './config/load.ts';
import type { EdgeConfig } from './config/schema.ts';
import { watchConfigFile, type ConfigWatcher } from './config/watch.ts';
import { createControlPlane, type ControlPlane } from './control.ts';
import { startDemoVm } from './demo/server.ts';
import { openRules } from './fleet/source.ts';
import { createForwardsPart } from './l4/forwards.ts';
import type { ForwardObserver } from './l4/observer.ts';
import { createLogger, type Logger } from './log.ts';
import { observeForwards } from './metrics/forwards.ts';
import { observeProcess, type ProcessObserver } from './metrics/observer.ts';
import { createPolicyPart } from './policy/policies.ts';
import { subscribeAccessLog } from './proxy/access-log.ts';
import { createAdmission } from './proxy/admission.ts';
import { createClientErrorHandler } from './proxy/client-errors.ts';
import { createRequestEvents, type RequestEvents } from './proxy/context.ts';
import { startListeners } from './proxy/listeners.ts';
import { startTicketRotation } from './tls/tickets.ts';
import { createInboundPart } from './proxy/inbound.ts';
import { createPipeline } from './proxy/pipeline.ts';
import { createPools, type PoolStats } from './proxy/pools.ts';
import { createRequestIds } from './proxy/request-id.ts';
import { createLiveStatePart } from './proxy/state.ts';
import { createUpgradeRegistry } from './proxy/upgrades.ts';
import { createTrafficRecorder, openTrafficStore } from './stats/traffic.ts';
import { openStorage } from './storage/open.ts';
import type { RenewTarget } from './renewal/renew.ts';
import type { RenewalService } from './renewal/service.ts';
import { createCertManager } from './tls/contexts.ts';
import { certsPart } from './tls/part.ts';
import { localCa } from './tls/local-ca.ts';
import { createSelfSignedIssuer } from './tls/selfsigned.ts';
import { createCertStore } from './tls/store.ts';

export interface EdgeOptions {
  /** The config file: read at start and, unless `watch` is false, followed. */
  readonly configFile?: string;
  /** A config validated elsewhere (a worker gets its primary's, the CLI its own): the file is not read at start. */
  readonly config?: EdgeConfig;
  /** A logger to use instead of the one the config describes (tests). */
  readonly log?: Logger;
  readonly clock?: Clock;
  /** Listen on free ports instead of the configured ones (tests). */
  readonly ephemeralPorts?: boolean;
  /** Watch the config file for changes (default true when there is a file). */
  readonly watch?: boolean;
  /** Run as one of several workers: no control plane, no demo VM; the primary renews and applies. */
  readonly worker?: boolean;
  /** In a worker: the session ticket key its primary made (tls/tickets.ts); a single edge rotates its own. */
  readonly ticketKey?: Buffer;
  /** In a worker: ask the primary to issue a certificate that is missing. */
  readonly requestIssue?: (target: RenewTarget, reason: string) => void;
  /** The share of each HTTP bandwidth cap this process enforces (1/N in each of N workers; default 1). */
  readonly capShare?: number;
  /** Where forwards report connections, bytes and refusals (default: nowhere; metrics/forwards.ts feeds the metrics). */
  readonly forwardObserver?: ForwardObserver;
}

export interface EdgeStats {
  readonly inFlight: number;
  readonly webSockets: number;
  /** Client connections open on the HTTP and HTTPS listeners. */
  readonly connections: number;
  /** Open forward connections (TCP) and sessions (UDP); 0 in a worker, whose primary serves the forwards. */
  readonly forwards: number;
  readonly pools: PoolStats;
}

export interface Edge {
  readonly httpPort: number | null;
  readonly httpsPort: number | null;
  readonly log: Logger;
  /** The running config. */
  config(): EdgeConfig;
  /** The one way to change the config (see config/apply.ts). */
  apply(input: ApplyInput, source: ApplySource): Promise<ApplyResult>;
  /** The first half of an apply (workers: the primary commits or aborts every worker together). */
  prepare(input: ApplyInput, source: ApplySource): Promise<PreparedApply | ApplyResult>;
  /** Re-reads the config file (SIGHUP, the file watcher); a refused one leaves the running config serving. */
  reload(source?: ApplySource): Promise<ApplyResult>;
  lastApply(): ApplyResult | null;
  /** The renewal service; null in a worker, whose primary renews. */
  readonly renewal: RenewalService | null;
  /** "request finished" and friends: the access log, metrics, activity and traffic statistics subscribe here. */
  readonly events: RequestEvents;
  /** This process's metrics, activity and traffic increments (a worker's primary asks for them). */
  readonly observer: ProcessObserver;
  /** Certificate alerts; null in a worker, whose primary sends them. */
  readonly alerts: AlertsPart | null;
  stats(): EdgeStats;
  /** The admin API (admin.listen), null when there is none. */
  readonly admin: Pick<AdminServer, 'url' | 'tokenFile'> | null;
  /** Every certificate the running config needs, with what is stored (the start-up summary shows them). */
  certificates(): Promise<CertView[]>;
  /** Upgraded (WebSocket) connections currently open. */
  openUpgrades(): number;
  inFlight(): number;
  /** Replaces the HTTPS listener's session ticket key (a worker gets each new one from its primary). */
  setTicketKey(key: Buffer): void;
  /** Drains and stops; resolves when every socket is closed. */
  close(graceMs?: number): Promise<void>;
}

export async function startEdge(opts: EdgeOptions): Promise<Edge> {
  const configFile = opts.configFile === undefined ? undefined : resolve(opts.configFile);
  if (!opts.config && !configFile) throw new Error('startEdge needs a config or a config file');
  const first = opts.config ?? loadConfigFile(configFile!);
  const ownLog = opts.log ? null : createLogger({ level: first.log.level, file: first.log.file, format: first.log.format });
  const log = opts.log ?? ownLog!.log;
  const clock = opts.clock ?? systemClock;
  const cleanups: Array<() => void | Promise<void>> = [];
  try {
    // One storage per process; closed last (cleanups run in reverse), after everything that uses it.
    const storage = await openStorage(first, log, { unreachable: 'local-copy' });
    cleanups.push(() => storage.close());
    // The rules: the file's, or the fleet document's (config.source: redis); a worker's come from its primary.
    const rules = await openRules({ configFile: opts.worker ? undefined : configFile, config: first, storage, log, now: () => clock.now() });
    cleanups.push(() => rules.close());
    const store = createCertStore({ storage, log, clock });
    const selfSigned = createSelfSignedIssuer({ clock, ca: localCa({ storage, clock, log }) });
    const events = createRequestEvents((err) => log.error({ err }, 'request-finished listener failed'));
    subscribeAccessLog(events, log);
    // A single edge writes its own traffic statistics; a worker hands its increments to the primary.
    const traffic = opts.worker ? null : openTrafficStore({ dir: first.data.dir, clock });
    if (traffic) cleanups.push(() => traffic.close());
    const upgrades = createUpgradeRegistry({ onBytes: (info, bytesIn, bytesOut) => events.emitUpgradeBytes(info.match, bytesIn, bytesOut) });
    const observer = observeProcess({ events, upgrades, recorder: traffic ?? createTrafficRecorder(clock), processMetrics: true });
    cleanups.push(() => observer.close());
    const { metrics } = observer;
    const alerts = opts.worker ? null : createAlertsPart({ storage, log, clock, edge: hostname() });
    if (alerts) cleanups.push(() => alerts.close());
    // A single edge owns the control plane (ACME, renewal); a worker asks its primary instead.
    const control: ControlPlane | null = opts.worker ? null
      : createControlPlane({ store, storage, selfSigned, log, clock, onStored: () => certs.refresh(),
        onRenewals: (results) => { metrics.countRenewals(results); alerts?.onRenewals(results); },
        leadership: rules.leadership, onLeadership: rules.onLeadership });
    const certs = createCertManager({
      store, log, clock, selfSigned,
      // A letsencrypt name without a CA certificate is served a self-signed stand-in meanwhile.
      onMissingManaged: (t) => {
        const target = { name: t.name, names: t.names, source: 'letsencrypt' as const };
        if (opts.requestIssue) opts.requestIssue(target, t.reason);
        else control?.renewal().request(target, t.reason);
      },
    });
    cleanups.push(() => certs.close());
    if (control) cleanups.push(() => control.close());
    const challenges = createChallengeResponder(storage);
    const pools = createPools();
    cleanups.push(() => pools.close());
    const policies = createPolicyPart({ httpShare: opts.capShare ?? 1 });
    const state = createLiveStatePart(upgrades, policies.of);
    // Port forwards: a single edge serves them; with workers the primary does (see cluster/primary.ts).
    const forwards = opts.worker ? null : createForwardsPart({ log, policies, observer: opts.forwardObserver ?? observeForwards(metrics, traffic ?? createTrafficRecorder(clock)) });
    if (forwards) {
      cleanups.push(() => forwards.close(0));
      metrics.addSources({ forwardsOpen: () => forwards.openByForward() });
    }
    const inbound = createInboundPart();

    const logLevel: ConfigPart = { name: 'log level', prepare: (next) => ({ commit() { log.level = next.log.level; }, abort() {} }) };
    const poolsPart: ConfigPart = {
      name: 'upstream pools',
      prepare: (next, table) => pools.prepare(table, (file) =>
        `proxies[${next.proxies.findIndex((p) => p.upstreamTls?.caFile === file)}].upstreamTls.caFile`),
    };
    // Commit order matters: the control plane follows the config before the certificate index asks it for
    // missing certificates, and the request state goes last, once pools and certificates are in place.
    const applier = createApplier({
      parts: [...(control ? [control] : []), ...(alerts ? [alerts] : []), policies, poolsPart, certsPart(certs), inbound, state,
        ...(forwards ? [forwards] : []), logLevel],
      check: (c) => checkConfig(c, clock.now()), warn: configWarnings,
      log,
      // A worker's applies are its primary's, counted there.
      ...(opts.worker ? {} : { onResult: (r: ApplyResult, outcome: 'applied' | 'refused' | 'aborted') => metrics.countApply(r.source, outcome) }),
    });
    if (!opts.worker) {
      metrics.addSources({ certificates: () => certificateExpiries(applier.current(), store, clock.now()) });
      rules.registerMetrics(metrics.registry);
    }
    const started = await applier.apply({ config: rules.first }, 'start');
    if (!started.ok) throw refusalError(started);
    rules.follow(applier);

    if (first.demo.enabled && !opts.worker) {
      const demo = await startDemoVm(first.demo.port);
      cleanups.push(() => demo.close());
      log.info({ port: demo.port }, 'demo VM started (demo.enabled: true): a page and a WebSocket echo on 127.0.0.1');
    }

    const ids = createRequestIds();
    const pipeline = createPipeline({ state: state.get, pools, upgrades, log, ids, events, challenges: () => challenges, inbound: inbound.get });
    const admission = createAdmission({ limits: () => inbound.get().limits, exempt: (a) => state.get().trusted.isTrusted(a), log });
    const onClientError = createClientErrorHandler({ ids, log, inbound: inbound.get, detail: () => state.get().pages.detail });
    // The admin API edits the config file; the watcher below skips the API's own writes, applied already.
    const file = configFile ? openConfigFile(configFile) : null;
    let serving: { http: number | null; https: number | null } | null = null;
    const admin = file && traffic ? await startAdmin(first, { file, rules: rules.admin(applier), degraded: () => rules.degraded(), applier, store,
      renewal: () => control?.renewal() ?? null, log, clock,
      observability: observer.local(traffic),
      runtime: () => ({ mode: 'single', workers: 1, ready: serving !== null, listeners: { host: first.listen.host, http: serving?.http ?? null,
        https: serving?.https ?? null }, inFlight: pipeline.inFlight(), webSockets: upgrades.count() }) }) : null;
    if (admin) cleanups.push(() => admin.close());

    const listeners = await startListeners({
      host: first.listen.host,
      httpPort: first.listen.http,
      httpsPort: first.listen.https,
      ephemeral: opts.ephemeralPorts ?? false,
      tls: { sniCallback: certs.sniCallback, defaultCert: await certs.defaultCertificate(), onHandshake: metrics.countHandshake,
        allowsHttp2: (name) => state.get().table.allowsHttp2(name) },
    }, pipeline, upgrades, log, { inbound, admission, onClientError });
    metrics.addSources({ connectionsOpen: () => listeners.connections() });
    if (opts.ticketKey) listeners.setTicketKey(opts.ticketKey);
    else if (!opts.worker) {
      const tickets = startTicketRotation((key) => listeners.setTicketKey(key));
      listeners.setTicketKey(tickets.current());
      cleanups.push(() => tickets.stop());
    }
    // Open WebSockets count towards the traffic statistics while they last, not only when they close.
    const sweeper = setInterval(() => observer.sweep(), 10_000);
    sweeper.unref();
    cleanups.push(() => clearInterval(sweeper));
    state.setHttpsPort(listeners.httpsPort ?? 0);
    serving = { http: listeners.httpPort, https: listeners.httpsPort };
    certs.watch();
    // Issuance waits for the listeners (HTTP-01 is answered on ours). Then catch up on renewals missed
    // while the edge was down; the schedule takes over from there.
    control?.start();
    log.info({ http: listeners.httpPort, https: listeners.httpsPort, host: first.listen.host, proxies: state.get().table.routes.length,
      forwards: forwards?.keys().length ?? 0 },
      'idcs-edge listening');

    const reload = (source: ApplySource = 'file') => rules.reload(applier, source);
    let watcher: ConfigWatcher | null = null;
    if (configFile && opts.watch !== false) watcher = watchConfigFile(configFile, reloadUnlessOwnWrite(file, log, () => { void reload('file'); }));

    let closing: Promise<void> | null = null;
    return {
      httpPort: listeners.httpPort,
      httpsPort: listeners.httpsPort,
      log,
      config: () => applier.current()!,
      apply: (input, source) => applier.apply(input, source),
      prepare: (input, source) => applier.prepare(input, source),
      reload: (source) => {
        if (!configFile) return Promise.reject(new Error('this edge has no config file to reload'));
        return reload(source);
      },
      lastApply: () => applier.last(),
      renewal: control?.renewal() ?? null,
      admin: admin && { url: admin.url, tokenFile: admin.tokenFile },
      events,
      observer,
      alerts,
      stats: () => ({ inFlight: pipeline.inFlight(), webSockets: upgrades.count(), connections: admission.open(), forwards: forwards?.open() ?? 0,
        pools: pools.stats() }),
      certificates: () => certificateViews(applier.current(), store, clock.now()),
      openUpgrades: () => upgrades.count(),
      setTicketKey: (key) => listeners.setTicketKey(key),
      inFlight: () => pipeline.inFlight(),
      close(graceMs = applier.current()!.shutdown.graceMs) {
        closing ??= (async () => {
          log.info({ graceMs, inFlight: pipeline.inFlight(), webSockets: upgrades.count() }, 'shutting down');
          watcher?.close();
          // Work on the CA is abandoned at once, while requests drain (its cleanup below awaits the same close).
          const controlClosed = control?.close();
          // WebSockets are told at once (1001 Going Away), so their clients reconnect elsewhere while requests drain.
          upgrades.closeAll(graceMs);
          // Forward connections are streams with no end to wait for (an SSH session): closed at once, as WebSockets are.
          const forwardsClosed = forwards?.close(0);
          await listeners.close(graceMs);
          await forwardsClosed;
          await controlClosed;
          for (const c of cleanups.reverse()) await c();
          log.info('stopped');
          await ownLog?.close();
        })();
        return closing;
      },
    };
  } catch (err) {
    for (const c of cleanups.reverse()) await c();
    await ownLog?.close();
    throw err;
  }
}
