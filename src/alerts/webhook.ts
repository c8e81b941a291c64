/**
 * Alerts to a webhook (`alerts.webhook`): a JSON POST per alert, sent in the background and retried with
 * backoff, so a slow or failing receiver never blocks renewal or traffic. Since Let's Encrypt stopped
 * sending expiry emails (2025) this is how an operator hears that a certificate is in trouble. The headers
 * (`alerts.webhookHeaders`, often a bearer token) are sent, never logged; alerts carry no key material.
 */
import type { Logger } from '../log.ts';

export type AlertEvent = 'certificate.renewal_failed' | 'certificate.expiring' | 'certificate.recovered';

export interface Alert {
  readonly event: AlertEvent;
  readonly name: string;
  readonly source: string;
  /** The certificate's expiry (null: none stored yet). */
  readonly notAfter: string | null;
  readonly daysLeft: number | null;
  /** Why, in words: the renewal rule's reason ("expires in 5 days (within 30)"). */
  readonly reason: string;
  readonly error?: { readonly code: string; readonly message: string };
  readonly at: string;
}

export interface AlertSender {
  /** Queues an alert; returns at once. */
  send(alert: Alert): void;
  /** Resolves when every queued alert was delivered or given up (tests, shutdown). */
  idle(): Promise<void>;
  close(): void;
}

export interface WebhookOptions {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly log: Logger;
  /** Who sent it: the edge's host name, in every payload. */
  readonly edge: string;
  /** One POST's deadline (default 10 s). */
  readonly timeoutMs?: number;
  /** Delays between attempts (default 2 s, 10 s, 1 min, 5 min, 30 min; then the alert is dropped and logged). */
  readonly backoffMs?: readonly number[];
}

const DEFAULT_BACKOFF = [2_000, 10_000, 60_000, 300_000, 1_800_000];

export function createWebhookSender(o: WebhookOptions): AlertSender {
  const backoff = o.backoffMs ?? DEFAULT_BACKOFF;
  const controller = new AbortController();
  const inFlight = new Set<Promise<void>>();
  let closed = false;
  const wait = (ms: number) => new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    t.unref();
    controller.signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });

  const deliver = async (alert: Alert) => {
    const body = JSON.stringify({ ...alert, edge: o.edge });
    for (let attempt = 0; ; attempt++) {
      if (closed) return;
      let why: string;
      try {
        const res = await fetch(o.url, {
          method: 'POST', body, redirect: 'error',
          headers: { ...o.headers, 'content-type': 'application/json', 'user-agent': 'idcs-edge' },
          signal: AbortSignal.any([controller.signal, AbortSignal.timeout(o.timeoutMs ?? 10_000)]),
        });
        await res.body?.cancel();
        if (res.ok) {
          o.log.info({ event: alert.event, name: alert.name, status: res.status }, 'alert delivered');
          return;
        }
        why = `the receiver answered ${res.status}`;
      } catch (err) {
        if (closed) return;
        why = (err as Error).name === 'TimeoutError' ? 'no answer in time' : (err as Error).message;
      }
      if (attempt >= backoff.length) {
        o.log.error({ event: alert.event, name: alert.name, attempts: attempt + 1, err: why }, 'alert not delivered: giving up');
        return;
      }
      o.log.warn({ event: alert.event, name: alert.name, attempt: attempt + 1, err: why, retryInMs: backoff[attempt] }, 'alert delivery failed: retrying');
      await wait(backoff[attempt]!);
    }
  };

  return {
    send(alert) {
      if (closed) return;
      const p = deliver(alert).finally(() => inFlight.delete(p));
      inFlight.add(p);
    },
    async idle() {
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
    close() {
      closed = true;
      controller.abort();
    },
  };
}
