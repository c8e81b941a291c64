/**
 * What one process of the edge observes, and how the admin API reads it. A serving process (a single edge
 * or a worker) subscribes its metrics, per-proxy activity and traffic recorder to the request events; a
 * worker hands its primary an Observation when asked (cluster/), and the primary adds them up. The admin
 * API reads an Observability, which is the same for a single edge and for a workers group's primary.
 */
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { RequestEvents } from '../proxy/context.ts';
import type { UpgradeRegistry } from '../proxy/upgrades.ts';
import { recordTraffic } from '../stats/subscribe.ts';
import type { TrafficDelta, TrafficRecorder, TrafficStore } from '../stats/traffic.ts';
import { mergeActivity, recordActivity, type ActivitySnapshot } from './activity.ts';
import { createMetrics, type EdgeMetrics } from './registry.ts';
import { recordRequests } from './requests.ts';

/** One worker's answer to its primary: its metrics, its traffic increments since the last answer, its activity. */
export interface Observation {
  readonly metrics: MetricObjectWithValues<MetricValue<string>>[];
  readonly traffic: TrafficDelta[];
  readonly activity: ActivitySnapshot;
}

/** What the admin API reads: the whole edge (all workers summed), current when it is asked. */
export interface Observability {
  /** Prometheus text. */
  metricsText(): Promise<string>;
  readonly contentType: string;
  /** The traffic store, with every process's increments added. */
  traffic(): Promise<TrafficStore>;
  activity(): Promise<ActivitySnapshot>;
}

export interface ProcessObserver {
  readonly metrics: EdgeMetrics;
  /** This process's metrics, traffic increments (taken) and activity, the bytes of open WebSockets counted first. */
  observe(): Promise<Observation>;
  /** Counts the bytes of open WebSockets so far; the composition root also calls it on a timer. */
  sweep(): void;
  /** The traffic increments since the last take, open WebSockets' bytes included (a worker sends them to its primary). */
  takeTraffic(): TrafficDelta[];
  /** A single edge's Observability (a worker has none: its primary asks it). */
  local(store: TrafficStore): Observability;
  close(): void;
}

/**
 * Subscribes a serving process's recorders to `events`: metrics (with the default process metrics when
 * `processMetrics`), activity, and traffic into `recorder` (the store itself in a single edge).
 */
export function observeProcess(o: { events: RequestEvents; upgrades: UpgradeRegistry; recorder: TrafficRecorder; processMetrics: boolean }): ProcessObserver {
  const metrics = createMetrics({ processMetrics: o.processMetrics });
  metrics.addSources({ webSocketsOpen: () => o.upgrades.countByProxy() });
  const offs = [recordRequests(o.events, metrics), recordTraffic(o.events, o.recorder)];
  const activity = recordActivity(o.events);
  const sweep = () => o.upgrades.sweepBytes();
  return {
    metrics,
    async observe() {
      sweep();
      return { metrics: await metrics.json(), traffic: o.recorder.take(), activity: activity.snapshot() };
    },
    sweep,
    takeTraffic() {
      sweep();
      return o.recorder.take();
    },
    local: (store) => ({
      metricsText: () => { sweep(); return metrics.text(); },
      contentType: metrics.contentType,
      traffic: async () => { sweep(); return store; },
      activity: async () => activity.snapshot(),
    }),
    close() {
      for (const off of offs) off();
      activity.close();
    },
  };
}

/**
 * A workers group's Observability: the primary's own metrics (renewals, applies, certificates, its
 * process) plus each worker's, summed. `gather` asks every worker for an Observation; the group adds the
 * traffic in each answer to the primary's store (cluster/group.ts), so the store is current once it resolves.
 */
export function groupObservability(o: { metrics: EdgeMetrics; store: TrafficStore; gather(): Promise<Observation[]> }): Observability {
  return {
    metricsText: async () => o.metrics.text((await o.gather()).map((w) => w.metrics)),
    contentType: o.metrics.contentType,
    traffic: async () => { await o.gather(); return o.store; },
    activity: async () => mergeActivity((await o.gather()).map((w) => w.activity)),
  };
}
