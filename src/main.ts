/**
 * Composition root: load config, build the parts, start listeners, watch for changes, drain on close.
 * Wiring only: every decision lives in the part it belongs to. `startEdge` can run several times in one
 * process (tests do), because no part keeps module-level state.
 */
import { resolve } from 'node:path';
import { createChallengeResponder } from './acme/challenges.ts';
import { systemClock, type Clock } from './clock.ts';
import { loadConfigFile } from './config/load.ts';
import type { EdgeConfig } from './config/schema.ts';
import { watchConfigFile, type ConfigWatcher } from './config/watch.ts';
import { startDemoVm, type DemoVm } from './demo/server.ts';
import { createControlPlane, type ControlPlane } from './control.ts';
import { ConfigError } from './errors.ts';
import { createLogger, type Logger } from './log.ts';
import { compileTrustedProxies } from './proxy/forwarded.ts';
import { createForwarder } from './proxy/forwarder.ts';
import { createHandlers, type LiveState } from './proxy/handler.ts';
import { startListeners, type Listeners } from './proxy/listeners.ts';
import { createPools } from './proxy/pools.ts';
import { createUpgradeRegistry } from './proxy/upgrades.ts';
import type { RenewTarget } from './renewal/renew.ts';
import type { RenewalService } from './renewal/service.ts';
import { buildRouteTable } from './routing/table.ts';
import { storageFor } from './storage/open.ts';
import { createCertManager } from './tls/contexts.ts';
import { createSelfSignedIssuer } from './tls/selfsigned.ts';
import { createCertStore } from './tls/store.ts';

export interface EdgeOptions {
  readonly configFile: string;
  /** A logger to use instead of the one the config describes (tests). */
  readonly log?: Logger;
  readonly clock?: Clock;
  /** Listen on free ports instead of the configured ones (tests). */
  readonly ephemeralPorts?: boolean;
  /** Watch the config file for changes (default true). */
  readonly watch?: boolean;
  /** Run as one of several workers: no control plane, no demo VM; the primary renews and reloads. */
  readonly worker?: boolean;
  /** In a worker: ask the primary to issue a certificate that is missing. */
  readonly requestIssue?: (target: RenewTarget, reason: string) => void;
}

export interface ReloadResult {
  readonly ok: boolean;
  readonly error?: ConfigError | Error;
}

export interface Edge {
  readonly httpPort: number | null;
  readonly httpsPort: number | null;
  readonly log: Logger;
  config(): EdgeConfig;
  /** Re-reads the config file; an invalid one is logged and the running config keeps serving. */
  reload(): Promise<ReloadResult>;
  /** The renewal service; null in a worker, whose primary renews. */
  readonly renewal: RenewalService | null;
  /** Upgraded (WebSocket) connections currently open. */
  openUpgrades(): number;
  inFlight(): number;
  /** Drains and stops; resolves when every socket is closed. */
  close(graceMs?: number): Promise<void>;
}

export async function startEdge(opts: EdgeOptions): Promise<Edge> {
  const configFile = resolve(opts.configFile);
  let config = loadConfigFile(configFile);
  const ownLog = opts.log ? null : createLogger({ level: config.log.level, file: config.log.file });
  const log = opts.log ?? ownLog!.log;
  const clock = opts.clock ?? systemClock;
  const cleanups: Array<() => void | Promise<void>> = [];
  try {
    // One storage per process; closed last (cleanups run in reverse), after everything that uses it.
    const storage = storageFor(config, log);
    cleanups.push(() => storage.close());
    const store = createCertStore({ storage, log, clock });
    const selfSigned = createSelfSignedIssuer({ clock });
    // A single edge owns the control plane (ACME, renewal); a worker asks its primary instead.
    let control: ControlPlane | null = null;
    const certs = createCertManager({
      store, log, clock, selfSigned,
      // A letsencrypt name without a CA certificate is served a self-signed stand-in meanwhile.
      onMissingManaged: (t) => {
        const target = { name: t.name, names: t.names, source: 'letsencrypt' as const };
        if (opts.requestIssue) opts.requestIssue(target, t.reason);
        else control?.renewal.request(target, t.reason);
      },
    });
    cleanups.push(() => certs.close());
    if (!opts.worker) {
      control = createControlPlane({ store, storage, selfSigned, config, log, clock, onStored: () => certs.refresh() });
      const c = control;
      cleanups.push(() => c.close());
    }
    const challenges = createChallengeResponder(storage);
    const pools = createPools(config.upstream);
    cleanups.push(() => pools.close());
    const upgrades = createUpgradeRegistry();
    const forwarder = createForwarder(config.upstream);

    let demo: DemoVm | null = null;
    if (config.demo.enabled && !opts.worker) {
      demo = await startDemoVm(config.demo.port);
      cleanups.push(() => demo!.close());
      log.info({ port: demo.port }, 'demo VM started (demo.enabled: true): a page and a WebSocket echo on 127.0.0.1');
    }

    let httpsPort = config.listen.https;
    let state: LiveState | null = null;

    const build = async (c: EdgeConfig) => {
      const table = buildRouteTable(c);
      const agents = pools.prepare(table, c);
      const index = await certs.prepare(table);
      return { table, agents, index, trusted: compileTrustedProxies(c.trustedProxies) };
    };
    const first = await build(config);
    // The control plane follows a config once it is known good, before activation asks for certificates.
    control?.apply(config, first.table);
    pools.activate(first.agents);
    certs.activate(first.index);
    state = { table: first.table, trusted: first.trusted, httpsPort };

    const handlers = createHandlers({
      state: () => state!, forwarder, pools, upgrades, log, challenges: () => challenges,
    });
    const listeners: Listeners = await startListeners({
      host: config.listen.host,
      httpPort: config.listen.http,
      httpsPort: config.listen.https,
      ephemeral: opts.ephemeralPorts ?? false,
      tls: { sniCallback: certs.sniCallback, defaultCert: await certs.defaultCertificate() },
    }, handlers, upgrades, log);
    httpsPort = listeners.httpsPort ?? 0;
    state = { ...state, httpsPort };
    certs.watch();
    // Issuance waits for the listeners (HTTP-01 is answered on ours). Then catch up on renewals missed
    // while the edge was down; the schedule takes over from there.
    if (control) {
      control.renewal.start();
      void control.renewal.scan('start');
    }
    log.info({ http: listeners.httpPort, https: listeners.httpsPort, host: config.listen.host, proxies: first.table.routes.length },
      'idcs-edge listening');

    let reloading: Promise<ReloadResult> | null = null;
    const reloadOnce = async (): Promise<ReloadResult> => {
      let next: EdgeConfig;
      try {
        next = loadConfigFile(configFile);
        const built = await build(next);
        const listenChanged = JSON.stringify(next.listen) !== JSON.stringify(config.listen);
        if (listenChanged) log.warn({ listen: next.listen }, 'listen settings changed: they apply after a restart');
        control?.apply(next, built.table);
        pools.activate(built.agents);
        certs.activate(built.index);
        state = { table: built.table, trusted: built.trusted, httpsPort };
        if (next.log.level !== config.log.level) log.level = next.log.level;
        config = next;
        // Upgraded connections whose route is gone or now points elsewhere are closed; the rest stay.
        const closed = upgrades.prune((info) => {
          const r = built.table.lookup(info.host);
          return r.ok && r.upstream.poolKey === info.poolKey;
        });
        log.info({ proxies: built.table.routes.length, vms: next.vms.length, closedWebSockets: closed }, 'config reloaded');
        return { ok: true };
      } catch (err) {
        if (err instanceof ConfigError) {
          log.error({ code: err.code, file: configFile, issues: err.issues }, `config not reloaded, the running config keeps serving: ${err.message}`);
        } else {
          log.error({ err }, 'config not reloaded, the running config keeps serving');
        }
        return { ok: false, error: err as Error };
      }
    };
    const reload = async (): Promise<ReloadResult> => {
      // Reloads never overlap: a change during a reload is picked up by one more reload after it.
      while (reloading) await reloading;
      reloading = reloadOnce();
      try { return await reloading; } finally { reloading = null; }
    };

    let watcher: ConfigWatcher | null = null;
    if (opts.watch !== false) {
      watcher = watchConfigFile(configFile, () => { void reload(); });
    }

    let closing: Promise<void> | null = null;
    return {
      httpPort: listeners.httpPort,
      httpsPort: listeners.httpsPort,
      log,
      config: () => config,
      renewal: control?.renewal ?? null,
      reload,
      openUpgrades: () => upgrades.count(),
      inFlight: () => listeners.inFlight(),
      close(graceMs = config.shutdown.graceMs) {
        closing ??= (async () => {
          log.info({ graceMs, inFlight: listeners.inFlight(), webSockets: upgrades.count() }, 'shutting down');
          watcher?.close();
          await listeners.close(graceMs);
          for (const c of cleanups.reverse()) await c();
          log.info('stopped');
          ownLog?.close();
        })();
        return closing;
      },
    };
  } catch (err) {
    for (const c of cleanups.reverse()) await c();
    ownLog?.close();
    throw err;
  }
}
