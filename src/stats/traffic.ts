/**
 * Traffic statistics per VM and per proxy: bytes in (from clients) and out (to clients), and requests by
 * status class, kept in an embedded SQLite database (node:sqlite: no native build) under `data.dir`, so the
 * platform can show a VM's current rate, a 24-hour curve and the monthly total that quotas use, across
 * restarts (README "Traffic statistics" defines the bytes).
 * Per-minute buckets are kept 48 hours, per-day totals 13 months (UTC days). Recording only adds to an
 * in-memory map; a flush every few seconds writes it in one transaction, so the request path never touches
 * the disk. In workers mode only the primary writes: workers hand it their increments (see flushTo).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { Clock } from '../clock.ts';

export type TrafficKind = 'vm' | 'proxy';
export type TrafficRange = '24h' | '30d' | 'month';

/** The status classes requests are counted by, in this order (index = first digit - 1). */
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
export type StatusClass = (typeof STATUS_CLASSES)[number];

/**
 * One increment: bytes of `id` (a VM's `owner/name` or a proxy's domain) in the minute starting at `t`
 * (Unix seconds), and requests answered by status class (`c[0]` 1xx .. `c[4]` 5xx).
 */
export interface TrafficDelta {
  readonly kind: TrafficKind;
  readonly id: string;
  readonly t: number;
  readonly in: number;
  readonly out: number;
  readonly c: readonly number[];
}

export interface TrafficSeries {
  readonly series: Array<{ t: number; in: number; out: number }>;
  readonly totals: { in: number; out: number };
}

export type RequestCounts = Record<StatusClass, number>;

export interface RequestSeries {
  readonly series: Array<{ t: number } & RequestCounts>;
  readonly totals: RequestCounts;
}

/** Where one VM's or proxy's increments go: found once (per route match), then a few additions per request. */
export interface TrafficSlot {
  /**
   * Adds bytes to the current minute (memory only), and one request of status class `statusClass` (0: 1xx
   * .. 4: 5xx) unless it is -1 (bytes of an open WebSocket, which are not a request).
   */
  add(bytesIn: number, bytesOut: number, statusClass?: number): void;
}

export interface TrafficRecorder {
  /** The slot of a VM (`owner/name`) or proxy (domain); keep it, it stays valid across takes. */
  slot(kind: TrafficKind, id: string): TrafficSlot;
  /** `slot(kind, id).add(...)`, for callers that do not keep slots. */
  record(kind: TrafficKind, id: string, bytesIn: number, bytesOut: number, statusClass?: number): void;
  /** Takes what was recorded since the last take (a worker sends this to its primary). */
  take(): TrafficDelta[];
}

export interface TrafficStore extends TrafficRecorder {
  /** Adds increments recorded elsewhere (a worker's). */
  add(deltas: readonly TrafficDelta[]): void;
  /** Writes everything recorded so far; called on a timer and on close. */
  flush(): void;
  series(kind: TrafficKind, id: string, range: TrafficRange): TrafficSeries;
  /** Requests by status class over the same ranges. */
  requests(kind: TrafficKind, id: string, range: TrafficRange): RequestSeries;
  /** Totals of every VM (or proxy) over `range`, largest first. */
  totals(kind: TrafficKind, range: TrafficRange): Array<{ id: string; in: number; out: number }>;
  /** This month's totals of every VM (or proxy), largest first. */
  monthTotals(kind: TrafficKind): Array<{ id: string; in: number; out: number }>;
  close(): void;
}

const MINUTE = 60;
const DAY = 86_400;
const KEEP_MINUTES_S = 48 * 3600;
const KEEP_DAYS_S = 396 * DAY; // 13 months

type Pending = { kind: TrafficKind; id: string; t: number; in: number; out: number; c: number[] };

/** An in-memory recorder: increments per (kind, id, minute), taken whole. */
export function createTrafficRecorder(clock: Clock): TrafficRecorder {
  let pending = new Map<string, Pending>();
  // Bumped by take(): a slot whose entry belongs to an earlier take (or minute) finds its new one.
  let generation = 0;
  const entry = (kind: TrafficKind, id: string, t: number): Pending => {
    const key = `${kind}\0${id}\0${t}`;
    let d = pending.get(key);
    if (!d) pending.set(key, d = { kind, id, t, in: 0, out: 0, c: [0, 0, 0, 0, 0] });
    return d;
  };
  const slot = (kind: TrafficKind, id: string): TrafficSlot => {
    let cur: Pending | null = null;
    let curGeneration = -1;
    return {
      add(bytesIn, bytesOut, statusClass = -1) {
        const t = Math.floor(clock.now().getTime() / 60_000) * MINUTE;
        if (cur === null || cur.t !== t || curGeneration !== generation) {
          cur = entry(kind, id, t);
          curGeneration = generation;
        }
        cur.in += bytesIn;
        cur.out += bytesOut;
        if (statusClass >= 0) cur.c[statusClass]!++;
      },
    };
  };
  return {
    slot,
    record: (kind, id, bytesIn, bytesOut, statusClass) => slot(kind, id).add(bytesIn, bytesOut, statusClass),
    take() {
      const out = [...pending.values()];
      pending = new Map();
      generation++;
      return out;
    },
  };
}

function startOfMonthUtc(nowS: number): number {
  const d = new Date(nowS * 1000);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) / 1000;
}

/** The database file under `dir`. */
export const trafficFile = (dir: string) => join(dir, 'traffic.sqlite');

/**
 * Opens (or creates) `<dir>/traffic.sqlite`; `flushEveryMs` 0 disables the timer (tests flush by hand).
 * `readOnly` opens an existing database only to read it (the CLI, next to a running edge): it writes
 * nothing, and throws when there is no database yet.
 */
export function openTrafficStore(opts: { dir: string; clock: Clock; flushEveryMs?: number; readOnly?: boolean }): TrafficStore {
  const readOnly = opts.readOnly === true;
  if (!readOnly) mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  const db = new DatabaseSync(trafficFile(opts.dir), { readOnly });
  // WAL: a reader (the API) never waits for a flush; NORMAL sync is safe with WAL for a counter store.
  // c1..c5: requests answered 1xx..5xx.
  const columns = 'bin INTEGER NOT NULL, bout INTEGER NOT NULL, c1 INTEGER NOT NULL, c2 INTEGER NOT NULL, c3 INTEGER NOT NULL, c4 INTEGER NOT NULL, c5 INTEGER NOT NULL';
  // The busy timeout first: switching to WAL takes a lock too, and another process (an edge or the CLI on
  // the same data dir) may hold one for a moment; without it the open fails with "database is locked".
  db.exec(readOnly ? 'PRAGMA busy_timeout = 5000;' : `PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
    CREATE TABLE IF NOT EXISTS minute (kind TEXT NOT NULL, id TEXT NOT NULL, t INTEGER NOT NULL, ${columns}, PRIMARY KEY (kind, id, t)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS day (kind TEXT NOT NULL, id TEXT NOT NULL, d INTEGER NOT NULL, ${columns}, PRIMARY KEY (kind, id, d)) WITHOUT ROWID;`);
  const upsert = (table: 'minute' | 'day', col: 't' | 'd'): StatementSync => db.prepare(
    `INSERT INTO ${table} (kind, id, ${col}, bin, bout, c1, c2, c3, c4, c5) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (kind, id, ${col}) DO UPDATE SET bin = bin + excluded.bin, bout = bout + excluded.bout, c1 = c1 + excluded.c1,
       c2 = c2 + excluded.c2, c3 = c3 + excluded.c3, c4 = c4 + excluded.c4, c5 = c5 + excluded.c5`);
  // A read-only database cannot prepare writes; they are never run then.
  const writes = readOnly ? null : {
    minute: upsert('minute', 't'), day: upsert('day', 'd'),
    pruneMinute: db.prepare('DELETE FROM minute WHERE t < ?'), pruneDay: db.prepare('DELETE FROM day WHERE d < ?'),
  };
  const qMinutes = db.prepare('SELECT t, bin, bout, c1, c2, c3, c4, c5 FROM minute WHERE kind = ? AND id = ? AND t >= ? ORDER BY t');
  const qDays = db.prepare('SELECT d AS t, bin, bout, c1, c2, c3, c4, c5 FROM day WHERE kind = ? AND id = ? AND d >= ? ORDER BY d');
  const totalsOf = (table: 'minute' | 'day', col: 't' | 'd') => db.prepare(`SELECT id, SUM(bin) AS bin, SUM(bout) AS bout FROM ${table}
    WHERE kind = ? AND ${col} >= ? GROUP BY id HAVING SUM(bin) + SUM(bout) > 0 ORDER BY SUM(bin) + SUM(bout) DESC, id`);
  const qMinuteTotals = totalsOf('minute', 't');
  const qDayTotals = totalsOf('day', 'd');
  const recorder = createTrafficRecorder(opts.clock);
  const extra: TrafficDelta[] = [];
  let lastPrune = 0;

  const flush = () => {
    if (writes === null) return;
    const deltas = [...recorder.take(), ...extra.splice(0)];
    const nowS = Math.floor(opts.clock.now().getTime() / 1000);
    if (deltas.length === 0 && nowS - lastPrune < 3600) return;
    db.exec('BEGIN');
    try {
      for (const d of deltas) {
        const [c1 = 0, c2 = 0, c3 = 0, c4 = 0, c5 = 0] = d.c;
        writes.minute.run(d.kind, d.id, d.t, d.in, d.out, c1, c2, c3, c4, c5);
        writes.day.run(d.kind, d.id, d.t - (d.t % DAY), d.in, d.out, c1, c2, c3, c4, c5);
      }
      if (nowS - lastPrune >= 3600) {
        writes.pruneMinute.run(nowS - KEEP_MINUTES_S);
        writes.pruneDay.run(nowS - KEEP_DAYS_S);
        lastPrune = nowS;
      }
      db.exec('COMMIT');
    } catch (err) {
      db.exec('ROLLBACK');
      // Nothing is lost: the increments go back and are written with the next flush.
      extra.push(...deltas);
      throw err;
    }
  };
  const timer = opts.flushEveryMs === 0 || readOnly ? null : setInterval(() => { try { flush(); } catch { /* retried next tick */ } }, opts.flushEveryMs ?? 5000);
  timer?.unref();

  type Row = { t: number; bin: number; bout: number; c1: number; c2: number; c3: number; c4: number; c5: number };
  /** Where `range` is read: minutes of the last 24 hours, or days of the last 30 (today included) or of this month (UTC). */
  const rangeOf = (range: TrafficRange, perId: boolean): [StatementSync, number] => {
    flush();
    const nowS = Math.floor(opts.clock.now().getTime() / 1000);
    if (range === '24h') return [perId ? qMinutes : qMinuteTotals, nowS - DAY];
    return [perId ? qDays : qDayTotals, range === '30d' ? nowS - (nowS % DAY) - 29 * DAY : startOfMonthUtc(nowS)];
  };
  const rangeRows = (kind: TrafficKind, id: string, range: TrafficRange): Row[] => {
    const [stmt, from] = rangeOf(range, true);
    return stmt.all(kind, id, from) as Row[];
  };
  const totals = (kind: TrafficKind, range: TrafficRange) => {
    const [stmt, from] = rangeOf(range, false);
    return (stmt.all(kind, from) as Array<{ id: string; bin: number; bout: number }>)
      .map((r) => ({ id: r.id, in: Number(r.bin), out: Number(r.bout) }));
  };
  const countsOf = (r: Row): RequestCounts => ({ '1xx': Number(r.c1), '2xx': Number(r.c2), '3xx': Number(r.c3), '4xx': Number(r.c4), '5xx': Number(r.c5) });

  return {
    slot: recorder.slot,
    record: recorder.record,
    take: recorder.take,
    add(deltas) { extra.push(...deltas); },
    flush,
    series(kind, id, range) {
      // Only minutes (days) that moved bytes have a point.
      const series = rangeRows(kind, id, range).filter((r) => Number(r.bin) + Number(r.bout) > 0)
        .map((r) => ({ t: Number(r.t), in: Number(r.bin), out: Number(r.bout) }));
      const totals = series.reduce((a, p) => ({ in: a.in + p.in, out: a.out + p.out }), { in: 0, out: 0 });
      return { series, totals };
    },
    requests(kind, id, range) {
      const series = rangeRows(kind, id, range).map((r) => ({ t: Number(r.t), ...countsOf(r) }))
        .filter((p) => STATUS_CLASSES.some((c) => p[c] > 0));
      const totals = Object.fromEntries(STATUS_CLASSES.map((c) => [c, series.reduce((n, p) => n + p[c], 0)])) as RequestCounts;
      return { series, totals };
    },
    totals,
    monthTotals: (kind) => totals(kind, 'month'),
    close() {
      if (timer) clearInterval(timer);
      try { flush(); } finally { db.close(); }
    },
  };
}
