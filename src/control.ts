/**
 * The control plane: what one process per host owns. That is the ACME issuer (built while some proxy
 * wants letsencrypt, rebuilt when the acme section changes) and the renewal service (cron scan, on-demand
 * issuance, retries). The single-process edge runs it beside its listeners; with `workers: N` the primary
 * runs it and the workers only serve, so no two processes of one edge run the schedule.
 */
import { defaultAcmeConfig } from './acme/config.ts';
import { createAcmeIssuer, type AcmeIssuer } from './acme/issuer.ts';
import type { Clock } from './clock.ts';
import type { EdgeConfig } from './config/schema.ts';
import type { Logger } from './log.ts';
import { renewalTargets } from './renewal/renew.ts';
import { createRenewalService, type RenewalService } from './renewal/service.ts';
import type { RouteTable } from './routing/table.ts';
import type { Storage } from './storage/contract.ts';
import type { Issuer } from './tls/issuer.ts';
import type { CertStore } from './tls/store.ts';

export interface ControlPlane {
  readonly renewal: RenewalService;
  /** Follows a new config: the issuer is rebuilt if the acme section changed; scans use the new table. */
  apply(config: EdgeConfig, table: RouteTable): void;
  close(): Promise<void>;
}

export interface ControlPlaneOptions {
  readonly store: CertStore;
  /** Where the ACME issuer keeps its account and HTTP-01 tokens. */
  readonly storage: Storage;
  readonly selfSigned: Issuer;
  readonly config: EdgeConfig;
  readonly log: Logger;
  readonly clock: Clock;
  /** Called after certificates were stored (the single-process edge refreshes its SNI index). */
  onStored(): Promise<unknown>;
}

export function createControlPlane(o: ControlPlaneOptions): ControlPlane {
  const { store, storage, selfSigned, log, clock } = o;
  let config = o.config;
  let table: RouteTable | null = null;
  let acme: { key: string; issuer: AcmeIssuer } | null = null;

  const renewal = createRenewalService({
    deps: () => ({ store, log, clock, issuers: { 'self-signed': selfSigned, ...(acme ? { letsencrypt: acme.issuer } : {}) } }),
    targets: () => (table ? renewalTargets(table) : []),
    renewWithinDays: () => config.renewal.renewWithinDays,
    schedule: config.renewal.schedule,
    timezone: config.renewal.timezone,
    runAtStart: false,
    onStored: () => o.onStored(),
    log, clock,
  });

  return {
    renewal,
    apply(next, nextTable) {
      if (next.renewal.schedule !== config.renewal.schedule || next.renewal.timezone !== config.renewal.timezone) {
        log.warn({ schedule: next.renewal.schedule, timezone: next.renewal.timezone }, 'renewal schedule changes apply after a restart');
      }
      config = next;
      table = nextTable;
      if (next.proxies.some((p) => p.enabled && p.ssl && p.certSource === 'letsencrypt')) {
        const key = JSON.stringify(next.acme ?? {});
        if (acme?.key !== key) {
          acme?.issuer.close();
          acme = { key, issuer: createAcmeIssuer({ config: next.acme ?? defaultAcmeConfig, storage, log, clock }) };
        }
      }
    },
    async close() {
      await renewal.close();
      acme?.issuer.close();
    },
  };
}
