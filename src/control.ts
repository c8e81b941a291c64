/**
 * The control plane: what one process per host owns. That is the ACME issuer (built while some proxy
 * wants letsencrypt, rebuilt when the acme section changes) and the renewal service (cron scan, on-demand
 * issuance, retries). The single-process edge runs it beside its listeners; with `workers: N` the primary
 * runs it and the workers only serve, so no two processes of one edge run the schedule.
 * It follows the config through the apply pipeline: prepare builds a new issuer when one is needed (which
 * can fail, e.g. an unreadable acme.caFile), and only commit adopts it and closes the old one, so a refused
 * apply leaves renewal running on the old config with the old issuer.
 */
import { defaultAcmeConfig } from './acme/config.ts';
import { createAcmeIssuer, type AcmeIssuer } from './acme/issuer.ts';
import type { Clock } from './clock.ts';
import type { ConfigPart } from './config/apply.ts';
import type { EdgeConfig } from './config/schema.ts';
import type { Leadership } from './fleet/leader.ts';
import type { Logger } from './log.ts';
import { renewalTargets, type RenewResult } from './renewal/renew.ts';
import { createRenewalService, type RenewalService } from './renewal/service.ts';
import type { RouteTable } from './routing/table.ts';
import type { Storage } from './storage/contract.ts';
import type { Issuer } from './tls/issuer.ts';
import type { CertStore } from './tls/store.ts';

export interface ControlPlane extends ConfigPart {
  /** Null until the first apply committed. */
  renewal(): RenewalService;
  /** Starts issuing and scanning (once the listeners that answer HTTP-01 are up). */
  start(): void;
  /**
   * Abandons work on the CA (every request, poll, self-check and DNS hook of an attempt in progress) and
   * stops renewing. Idempotent: the edge calls it as shutdown begins, and again among its cleanups.
   */
  close(): Promise<void>;
}

export interface ControlPlaneOptions {
  readonly store: CertStore;
  /** Where the ACME issuer keeps its account and HTTP-01 tokens. */
  readonly storage: Storage;
  readonly selfSigned: Issuer;
  readonly log: Logger;
  readonly clock: Clock;
  /** Called after certificates were stored (the single-process edge refreshes its SNI index). */
  onStored(): Promise<unknown>;
  /** Told the results of every renewal run (metrics, alerts). */
  onRenewals?(results: readonly RenewResult[]): void;
  /** In a fleet (config.source: redis): scans and on-demand issuance run only while this edge holds the renewal lease. */
  readonly leadership?: Leadership;
  /** Told when this edge takes or loses the renewal lease. */
  onLeadership?(leader: boolean): void;
}

const wantsAcme = (c: EdgeConfig) => c.proxies.some((p) => p.enabled && p.ssl && p.certSource === 'letsencrypt');

export function createControlPlane(o: ControlPlaneOptions): ControlPlane {
  const { store, storage, selfSigned, log, clock } = o;
  let config: EdgeConfig | null = null;
  let table: RouteTable | null = null;
  let acme: { key: string; issuer: AcmeIssuer } | null = null;
  let renewal: RenewalService | null = null;
  let closing: Promise<void> | null = null;

  const makeRenewal = (c: EdgeConfig) => createRenewalService({
    deps: () => ({ store, log, clock, issuers: { 'self-signed': selfSigned, ...(acme ? { letsencrypt: acme.issuer } : {}) } }),
    targets: () => (table ? renewalTargets(table) : []),
    renewWithinDays: () => config!.renewal.renewWithinDays,
    lockWaitMs: () => config!.renewal.lockWaitMs,
    schedule: c.renewal.schedule,
    timezone: c.renewal.timezone,
    runAtStart: false,
    onStored: () => o.onStored(),
    onResults: (results) => o.onRenewals?.(results),
    ...(o.leadership ? { leader: () => o.leadership!.isLeader() } : {}),
    log, clock,
  });

  return {
    name: 'control plane',
    prepare(next, nextTable) {
      const key = JSON.stringify(next.acme ?? {});
      const needIssuer = wantsAcme(next) && acme?.key !== key;
      const fresh = needIssuer
        ? { key, issuer: createAcmeIssuer({ config: next.acme ?? defaultAcmeConfig, storage, log, clock }) }
        : null;
      return {
        commit() {
          if (fresh) {
            acme?.issuer.close();
            acme = fresh;
          }
          config = next;
          table = nextTable;
          // The schedule is restart-only (config/restart.ts), so the service made at the first apply stays.
          renewal ??= makeRenewal(next);
        },
        abort() {
          fresh?.issuer.close();
        },
      };
    },
    renewal() {
      if (renewal === null) throw new Error('the control plane has no config yet');
      return renewal;
    },
    start() {
      renewal?.start();
      // In a fleet the scan runs where the lease is, at once when an edge takes it (its last holder may
      // have died before scanning, or mid-issuance).
      if (!o.leadership) void renewal?.scan('start');
      o.leadership?.start((leader) => {
        o.onLeadership?.(leader);
        if (leader) void renewal?.scan('renewal lease taken');
      });
    },
    close() {
      closing ??= (async () => {
        await renewal?.close();
        // Released last: another edge takes the scheduler over at once.
        await o.leadership?.close();
        acme?.issuer.close();
      })();
      return closing;
    },
  };
}
