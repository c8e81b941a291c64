/**
 * The request metrics' accumulators: plain numbers per series that the hot path adds to, read by the
 * registry when /metrics is scraped. prom-client's own label children hash and validate their labels on
 * every call (about a microsecond per request for our four series); a tally is found once per route
 * match and then costs a few additions. Series are keyed by their labels, so a reload's new matches
 * continue the same counters.
 */
import type { MetricObjectWithValues, MetricValue } from 'prom-client';

/** Requests by status class (1xx..5xx) and bytes of one (proxy, vm). */
export interface RouteTally {
  readonly proxy: string;
  readonly vm: string;
  readonly byClass: Float64Array;
  bytesIn: number;
  bytesOut: number;
}

/** A duration histogram of one proxy: counts per bucket (not cumulative), sum and count. */
export interface DurationTally {
  readonly proxy: string;
  readonly buckets: Float64Array;
  sum: number;
  count: number;
}

export interface Tallies {
  route(proxy: string, vm: string): RouteTally;
  duration(proxy: string): DurationTally;
  /** Adds one observation of `seconds`. */
  observe(d: DurationTally, seconds: number): void;
  /** The series of the three metrics, as prom-client's JSON (what a scrape prints and a primary sums). */
  requests(): MetricValue<string>[];
  bytes(): MetricValue<string>[];
  durations(name: string): MetricValue<string>[];
}

const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** Accumulators for histograms with `bounds` (upper bounds, ascending). */
export function createTallies(bounds: readonly number[]): Tallies {
  const routes = new Map<string, RouteTally>();
  const durations = new Map<string, DurationTally>();
  return {
    route(proxy, vm) {
      const key = `${proxy}\0${vm}`;
      let t = routes.get(key);
      if (!t) routes.set(key, t = { proxy, vm, byClass: new Float64Array(CLASSES.length), bytesIn: 0, bytesOut: 0 });
      return t;
    },
    duration(proxy) {
      let d = durations.get(proxy);
      if (!d) durations.set(proxy, d = { proxy, buckets: new Float64Array(bounds.length + 1), sum: 0, count: 0 });
      return d;
    },
    observe(d, seconds) {
      let i = 0;
      while (i < bounds.length && seconds > bounds[i]!) i++;
      d.buckets[i]!++;
      d.sum += seconds;
      d.count++;
    },
    requests() {
      const out: MetricValue<string>[] = [];
      for (const t of routes.values()) {
        CLASSES.forEach((status_class, i) => { if (t.byClass[i]! > 0) out.push({ labels: { proxy: t.proxy, vm: t.vm, status_class }, value: t.byClass[i]! }); });
      }
      return out;
    },
    bytes() {
      const out: MetricValue<string>[] = [];
      for (const t of routes.values()) {
        out.push({ labels: { proxy: t.proxy, vm: t.vm, direction: 'in' }, value: t.bytesIn }, { labels: { proxy: t.proxy, vm: t.vm, direction: 'out' }, value: t.bytesOut });
      }
      return out;
    },
    durations(name) {
      const out: MetricValue<string>[] = [];
      for (const d of durations.values()) {
        let cumulative = 0;
        bounds.forEach((le, i) => {
          cumulative += d.buckets[i]!;
          out.push({ labels: { proxy: d.proxy, le }, value: cumulative, metricName: `${name}_bucket` } as MetricValue<string>);
        });
        out.push({ labels: { proxy: d.proxy, le: '+Inf' }, value: d.count, metricName: `${name}_bucket` } as MetricValue<string>,
          { labels: { proxy: d.proxy }, value: d.sum, metricName: `${name}_sum` } as MetricValue<string>,
          { labels: { proxy: d.proxy }, value: d.count, metricName: `${name}_count` } as MetricValue<string>);
      }
      return out;
    },
  };
}

/** A metric whose series a function lists when scraped, in the shape prom-client's registry prints and sums. */
export function scrapeTimeMetric(name: string, help: string, type: 'counter' | 'histogram', values: () => MetricValue<string>[]) {
  const get = async (): Promise<MetricObjectWithValues<MetricValue<string>>> => ({ name, help, type, aggregator: 'sum', values: values() } as unknown as MetricObjectWithValues<MetricValue<string>>);
  return { name, help, type, aggregator: 'sum' as const, get, reset() {} };
}
