/**
 * The edge's Prometheus metrics (prom-client), in a registry of its own (never prom-client's global one).
 * Metric names and labels are a contract with users' dashboards: see README "Metrics". Labels are bounded
 * by the config: `proxy` is a configured domain (or `-` for hosts no proxy matches), `vm` an inventory VM's
 * `owner/name` (or `-`), `code` an EDGE_ERR_* code. Gauges that describe the present (open connections,
 * WebSockets, certificate expiry) are read from their owners when scraped, so nothing is kept twice; the
 * per-request series are kept in plain accumulators (tally.ts) and read when scraped too.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics, AggregatorRegistry, type Metric, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { createTallies, scrapeTimeMetric, type Tallies } from './tally.ts';

/** Buckets for a proxy: 1 ms to 60 s. */
export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

type MaybePromise<T> = T | Promise<T>;

/** What the scrape-time gauges read. Each source is optional: a primary has no listeners, a worker no renewals. */
export interface MetricSources {
  connectionsOpen?(): MaybePromise<Readonly<Record<string, number>>>;
  webSocketsOpen?(): ReadonlyMap<string, number>;
  certificates?(): MaybePromise<ReadonlyArray<{ readonly name: string; readonly source: string; readonly notAfter: string }>>;
  /** Open forward connections (TCP) and sessions (UDP) by forward id (`tcp/10022`). */
  forwardsOpen?(): Readonly<Record<string, number>>;
}

export interface EdgeMetrics {
  readonly registry: Registry;
  /** What requests add to: `idcs_edge_http_requests_total`, `_bytes_total` and `_request_duration_seconds`. */
  readonly tallies: Tallies;
  readonly upstreamErrors: Counter<'proxy' | 'code'>;
  readonly tlsHandshakes: Counter<'result'>;
  readonly renewals: Counter<'name' | 'result'>;
  readonly applies: Counter<'source' | 'result'>;
  /** Counts one TLS handshake with a client (result `ok` or `failed`). */
  countHandshake(ok: boolean): void;
  /** Counts the attempts of a renewal run (result `renewed` or `failed`; skipped and reported ones are not attempts). */
  countRenewals(results: ReadonlyArray<{ readonly name: string; readonly action: string }>): void;
  /** Counts one config apply (result `applied`, `refused` or `aborted`). */
  countApply(source: string, result: 'applied' | 'refused' | 'aborted'): void;
  /** Port forwards (metrics/forwards.ts feeds them): `forward` is its id (`tcp/10022`, `udp/2000-2009`). */
  readonly forwardConnections: Counter<'forward' | 'vm'>;
  readonly forwardSessions: Counter<'forward' | 'vm'>;
  readonly forwardBytes: Counter<'forward' | 'vm' | 'direction'>;
  readonly forwardRefused: Counter<'forward' | 'reason'>;
  /** Adds scrape-time sources (the composition root wires each owner in). */
  addSources(s: MetricSources): void;
  /** This process's metrics, for a primary to sum with its workers'. */
  json(): Promise<MetricObjectWithValues<MetricValue<string>>[]>;
  /** Prometheus text of this process plus `others` (the workers' json()), summed per series. */
  text(others?: ReadonlyArray<MetricObjectWithValues<MetricValue<string>>[]>): Promise<string>;
  readonly contentType: string;
}

export function createMetrics(opts: { processMetrics: boolean }): EdgeMetrics {
  const registry = new Registry();
  const registers = [registry];
  const sources: MetricSources[] = [];
  if (opts.processMetrics) collectDefaultMetrics({ register: registry });
  const tallies = createTallies(DURATION_BUCKETS);
  const custom = (m: ReturnType<typeof scrapeTimeMetric>) => registry.registerMetric(m as unknown as Metric);
  custom(scrapeTimeMetric('idcs_edge_http_requests_total', 'HTTP requests answered, by proxy, VM and status class.', 'counter', () => tallies.requests()));
  custom(scrapeTimeMetric('idcs_edge_http_request_duration_seconds', 'Time from request to the end of the response.', 'histogram',
    () => tallies.durations('idcs_edge_http_request_duration_seconds')));
  custom(scrapeTimeMetric('idcs_edge_http_bytes_total', 'Bytes read from (in) and written to (out) clients, after TLS decryption, WebSockets included.',
    'counter', () => tallies.bytes()));
  const upstreamErrors = new Counter({ name: 'idcs_edge_upstream_errors_total', help: 'Requests that failed talking to the VM, by error code.',
    labelNames: ['proxy', 'code'] as const, registers });
  const tlsHandshakes = new Counter({ name: 'idcs_edge_tls_handshakes_total', help: 'TLS handshakes with clients, by result (ok, failed).',
    labelNames: ['result'] as const, registers });
  const renewals = new Counter({ name: 'idcs_edge_cert_renewals_total', help: 'Certificate issuance and renewal attempts, by result (renewed, failed).',
    labelNames: ['name', 'result'] as const, registers });
  const applies = new Counter({ name: 'idcs_edge_config_applies_total', help: 'Config applies, by source and result (applied, refused, aborted).',
    labelNames: ['source', 'result'] as const, registers });
  const forwardConnections = new Counter({ name: 'idcs_edge_forward_connections_total', help: 'TCP connections accepted by port forwards.',
    labelNames: ['forward', 'vm'] as const, registers });
  const forwardSessions = new Counter({ name: 'idcs_edge_forward_sessions_total', help: 'UDP sessions (client address and port) begun by port forwards.',
    labelNames: ['forward', 'vm'] as const, registers });
  const forwardBytes = new Counter({ name: 'idcs_edge_forward_bytes_total', help: 'Bytes carried by port forwards: in from clients, out to clients.',
    labelNames: ['forward', 'vm', 'direction'] as const, registers });
  const forwardRefused = new Counter({ name: 'idcs_edge_forward_refused_total',
    help: 'Sources refused by port forwards: access rules, the UDP session bound, datagrams over a bandwidth cap.',
    labelNames: ['forward', 'reason'] as const, registers });
  new Gauge({ name: 'idcs_edge_forward_open', help: 'Open forward connections (TCP) and sessions (UDP), by forward.', labelNames: ['forward'] as const, registers,
    collect() {
      this.reset();
      for (const s of sources) for (const [forward, n] of Object.entries(s.forwardsOpen?.() ?? {})) this.inc({ forward }, n);
    } });
  new Gauge({ name: 'idcs_edge_connections_open', help: 'Client connections open, by listener.', labelNames: ['listener'] as const, registers,
    async collect() {
      const all = await Promise.all(sources.map((s) => s.connectionsOpen?.() ?? {}));
      this.reset();
      for (const open of all) for (const [listener, n] of Object.entries(open)) this.inc({ listener }, n);
    } });
  new Gauge({ name: 'idcs_edge_websockets_open', help: 'Upgraded (WebSocket) connections open, by proxy.', labelNames: ['proxy'] as const, registers,
    collect() {
      this.reset();
      for (const s of sources) for (const [proxy, n] of s.webSocketsOpen?.() ?? []) this.inc({ proxy }, n);
    } });
  new Gauge({ name: 'idcs_edge_cert_expiry_timestamp_seconds', help: 'When each served certificate expires (Unix seconds).',
    labelNames: ['name', 'source'] as const, registers, aggregator: 'max',
    async collect() {
      const all = await Promise.all(sources.map((s) => s.certificates?.() ?? []));
      this.reset();
      for (const list of all) for (const c of list) this.set({ name: c.name, source: c.source }, Math.floor(Date.parse(c.notAfter) / 1000));
    } });

  const handshakeOk = tlsHandshakes.labels({ result: 'ok' });
  const handshakeFailed = tlsHandshakes.labels({ result: 'failed' });
  return {
    registry, tallies, upstreamErrors, tlsHandshakes, renewals, applies,
    forwardConnections, forwardSessions, forwardBytes, forwardRefused,
    countHandshake: (ok) => (ok ? handshakeOk : handshakeFailed).inc(),
    countRenewals(results) {
      for (const r of results) if (r.action === 'renewed' || r.action === 'failed') renewals.labels({ name: r.name, result: r.action }).inc();
    },
    countApply: (source, result) => applies.labels({ source, result }).inc(),
    addSources: (s) => { sources.push(s); },
    json: () => registry.getMetricsAsJSON(),
    async text(others = []) {
      if (others.length === 0) return registry.metrics();
      return AggregatorRegistry.aggregate([await registry.getMetricsAsJSON(), ...others]).metrics();
    },
    contentType: registry.contentType,
  };
}
