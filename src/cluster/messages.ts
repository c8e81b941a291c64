/**
 * What the primary and its workers say to each other over the cluster IPC channel. A config change is a
 * two-phase apply: the primary validated the document once and asks every worker to prepare it; only when
 * all of them prepared does it tell them to commit (else to abort), so all processes of the edge serve the
 * same rules or none changes.
 */
import type { ConfigIssue } from '../errors.ts';
import type { EdgeConfig } from '../config/schema.ts';
import type { Observation } from '../metrics/observer.ts';
import type { RenewTarget } from '../renewal/renew.ts';
import type { TrafficDelta } from '../stats/traffic.ts';

export type ToWorker =
  | { readonly type: 'start'; readonly config: EdgeConfig; readonly ticketKey: string }
  /** A new session ticket key (base64), every 12 hours (tls/tickets.ts). */
  | { readonly type: 'tickets'; readonly key: string }
  | { readonly type: 'prepare'; readonly id: number; readonly config: EdgeConfig }
  | { readonly type: 'commit'; readonly id: number }
  | { readonly type: 'abort'; readonly id: number }
  /** For a worker that started during an apply: take this config now (prepare and commit at once). */
  | { readonly type: 'apply'; readonly config: EdgeConfig }
  /** Asks for the worker's metrics, traffic increments and activity (a scrape, a dashboard read). */
  | { readonly type: 'observe'; readonly id: number }
  /** Reopen the log file at its path (the primary got SIGUSR2: logrotate moved the file). */
  | { readonly type: 'reopen' }
  | { readonly type: 'shutdown' };

export type ToPrimary =
  | { readonly type: 'ready' }
  | { readonly type: 'prepared'; readonly id: number; readonly ok: boolean; readonly issues?: readonly ConfigIssue[]; readonly message?: string }
  | { readonly type: 'issue'; readonly target: RenewTarget; readonly reason: string }
  | { readonly type: 'observed'; readonly id: number; readonly observation: Observation }
  /** Traffic increments, sent every few seconds and once more when the worker stops: only the primary writes the store. */
  | { readonly type: 'traffic'; readonly deltas: TrafficDelta[] };
