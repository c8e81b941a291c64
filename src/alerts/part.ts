/**
 * Certificate alerts as a part of the apply pipeline: it follows `alerts.webhook` (a new sender on commit,
 * the old one closed) and turns every renewal run's results into alerts (policy.ts). What was alerted per
 * name is kept in storage (`state/alerts/<folder>.json`), so a restart neither repeats an alert sent an hour
 * ago nor forgets that a name is in trouble and will need a "recovered". One process per host runs it:
 * the single edge, or a workers group's primary, beside the renewal service.
 */
import type { Clock } from '../clock.ts';
import type { ConfigPart } from '../config/apply.ts';
import type { Logger } from '../log.ts';
import type { RenewResult } from '../renewal/renew.ts';
import type { Storage } from '../storage/contract.ts';
import { storeFolderName } from '../tls/store.ts';
import { decideAlerts, type AlertMemory } from './policy.ts';
import { createWebhookSender, type AlertSender } from './webhook.ts';

export interface AlertsPart extends ConfigPart {
  /** Decides and sends (in the background) the alerts a renewal run calls for. Never throws. */
  onRenewals(results: readonly RenewResult[]): void;
  /** Resolves once every decided alert is delivered or given up (tests, shutdown). */
  idle(): Promise<void>;
  close(): void;
}

export interface AlertsOptions {
  readonly storage: Storage;
  readonly log: Logger;
  readonly clock: Clock;
  /** Names this edge in every payload (the host name). */
  readonly edge: string;
}

const keyOf = (name: string) => `state/alerts/${storeFolderName(name)}.json`;

export function createAlertsPart(o: AlertsOptions): AlertsPart {
  const { storage, log, clock } = o;
  let sender: AlertSender | null = null;
  let settings = '';
  // Runs are handled one after another, so two runs never race on a name's memory.
  let queue: Promise<void> = Promise.resolve();

  const read = async (name: string): Promise<AlertMemory | null> => {
    const raw = await storage.get(keyOf(name));
    if (raw === null) return null;
    try { return JSON.parse(raw.toString('utf8')) as AlertMemory; } catch { return null; }
  };

  const handle = async (results: readonly RenewResult[]) => {
    for (const r of results) {
      // Nothing to alert about: a fresh certificate skipped, or one renewed that was never in trouble.
      if (r.action === 'abandoned' || r.action === 'would-renew') continue;
      const memory = await read(r.name);
      const d = decideAlerts(r, memory, clock.now());
      for (const a of d.alerts) {
        log.warn({ event: a.event, name: a.name, notAfter: a.notAfter, webhook: sender !== null }, 'certificate alert');
        sender?.send(a);
      }
      if (d.memory === memory) continue;
      if (d.memory === null) await storage.delete(keyOf(r.name));
      else await storage.put(keyOf(r.name), `${JSON.stringify(d.memory)}\n`);
    }
  };

  return {
    name: 'alerts',
    prepare(next) {
      const wanted = next.alerts?.webhook === undefined ? '' : JSON.stringify([next.alerts.webhook, next.alerts.webhookHeaders]);
      return {
        commit() {
          if (wanted === settings) return;
          sender?.close();
          settings = wanted;
          sender = next.alerts?.webhook === undefined ? null
            : createWebhookSender({ url: next.alerts.webhook, headers: next.alerts.webhookHeaders, log, edge: o.edge });
        },
        abort() {},
      };
    },
    onRenewals(results) {
      queue = queue.then(() => handle(results)).catch((err: Error) => log.error({ err: err.message }, 'certificate alerts failed'));
    },
    async idle() {
      await queue;
      await sender?.idle();
    },
    close() {
      sender?.close();
      sender = null;
    },
  };
}
