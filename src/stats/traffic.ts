/**
 * Traffic statistics per VM and per proxy: bytes in (from clients) and out (to clients), kept in an
 * embedded SQLite database (node:sqlite: no native build) under `data.dir`, so the platform can show a
 * VM's current rate, a 24-hour curve and the monthly total that quotas use, across restarts.
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

/** One increment: bytes of `id` (a VM's `owner/name` or a proxy's domain) in the minute starting at `t` (Unix seconds). */
export interface TrafficDelta {
  readonly kind: TrafficKind;
  readonly id: string;
  readonly t: number;
  readonly in: number;
  readonly out: number;
}

export interface TrafficSeries {
  readonly series: Array<{ t: number; in: number; out: number }>;
  readonly totals: { in: number; out: number };
}

export interface TrafficRecorder {
  /** Adds bytes to the current minute (memory only). */
  record(kind: TrafficKind, id: string, bytesIn: number, bytesOut: number): void;
  /** Takes what was recorded since the last take (a worker sends this to its primary). */
  take(): TrafficDelta[];
}

export interface TrafficStore extends TrafficRecorder {
  /** Adds increments recorded elsewhere (a worker's). */
  add(deltas: readonly TrafficDelta[]): void;
  /** Writes everything recorded so far; called on a timer and on close. */
  flush(): void;
  series(kind: TrafficKind, id: string, range: TrafficRange): TrafficSeries;
  /** This month's totals of every VM (or proxy), largest first. */
  monthTotals(kind: TrafficKind): Array<{ id: string; in: number; out: number }>;
  close(): void;
}

const MINUTE = 60;
const DAY = 86_400;
const KEEP_MINUTES_S = 48 * 3600;
const KEEP_DAYS_S = 396 * DAY; // 13 months

/** An in-memory recorder: increments per (kind, id, minute), taken whole. */
export function createTrafficRecorder(clock: Clock): TrafficRecorder {
  let pending = new Map<string, { kind: TrafficKind; id: string; t: number; in: number; out: number }>();
  return {
    record(kind, id, bytesIn, bytesOut) {
      const t = Math.floor(clock.now().getTime() / 60_000) * MINUTE;
      const key = `${kind}\0${id}\0${t}`;
      const d = pending.get(key);
      if (d) { d.in += bytesIn; d.out += bytesOut; } else pending.set(key, { kind, id, t, in: bytesIn, out: bytesOut });
    },
    take() {
      const out = [...pending.values()];
      pending = new Map();
      return out;
    },
  };
}

function startOfMonthUtc(nowS: number): number {
  const d = new Date(nowS * 1000);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) / 1000;
}

/** Opens (or creates) `<dir>/traffic.sqlite`; `flushEveryMs` 0 disables the timer (tests flush by hand). */
export function openTrafficStore(opts: { dir: string; clock: Clock; flushEveryMs?: number }): TrafficStore {
  mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  const db = new DatabaseSync(join(opts.dir, 'traffic.sqlite'));
  // WAL: a reader (the API) never waits for a flush; NORMAL sync is safe with WAL for a counter store.
  db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;
    CREATE TABLE IF NOT EXISTS minute (kind TEXT NOT NULL, id TEXT NOT NULL, t INTEGER NOT NULL, bin INTEGER NOT NULL, bout INTEGER NOT NULL, PRIMARY KEY (kind, id, t)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS day (kind TEXT NOT NULL, id TEXT NOT NULL, d INTEGER NOT NULL, bin INTEGER NOT NULL, bout INTEGER NOT NULL, PRIMARY KEY (kind, id, d)) WITHOUT ROWID;`);
  const upsert = (table: 'minute' | 'day', col: 't' | 'd'): StatementSync => db.prepare(
    `INSERT INTO ${table} (kind, id, ${col}, bin, bout) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (kind, id, ${col}) DO UPDATE SET bin = bin + excluded.bin, bout = bout + excluded.bout`);
  const upMinute = upsert('minute', 't');
  const upDay = upsert('day', 'd');
  const pruneMinute = db.prepare('DELETE FROM minute WHERE t < ?');
  const pruneDay = db.prepare('DELETE FROM day WHERE d < ?');
  const qMinutes = db.prepare('SELECT t, bin, bout FROM minute WHERE kind = ? AND id = ? AND t >= ? ORDER BY t');
  const qDays = db.prepare('SELECT d AS t, bin, bout FROM day WHERE kind = ? AND id = ? AND d >= ? ORDER BY d');
  const qMonth = db.prepare('SELECT id, SUM(bin) AS bin, SUM(bout) AS bout FROM day WHERE kind = ? AND d >= ? GROUP BY id ORDER BY SUM(bin) + SUM(bout) DESC');
  const recorder = createTrafficRecorder(opts.clock);
  const extra: TrafficDelta[] = [];
  let lastPrune = 0;

  const flush = () => {
    const deltas = [...recorder.take(), ...extra.splice(0)];
    const nowS = Math.floor(opts.clock.now().getTime() / 1000);
    if (deltas.length === 0 && nowS - lastPrune < 3600) return;
    db.exec('BEGIN');
    try {
      for (const d of deltas) {
        upMinute.run(d.kind, d.id, d.t, d.in, d.out);
        upDay.run(d.kind, d.id, d.t - (d.t % DAY), d.in, d.out);
      }
      if (nowS - lastPrune >= 3600) {
        pruneMinute.run(nowS - KEEP_MINUTES_S);
        pruneDay.run(nowS - KEEP_DAYS_S);
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
  const timer = opts.flushEveryMs === 0 ? null : setInterval(() => { try { flush(); } catch { /* retried next tick */ } }, opts.flushEveryMs ?? 5000);
  timer?.unref();

  const rows = (stmt: StatementSync, kind: TrafficKind, id: string, from: number) =>
    (stmt.all(kind, id, from) as Array<{ t: number; bin: number; bout: number }>).map((r) => ({ t: Number(r.t), in: Number(r.bin), out: Number(r.bout) }));

  return {
    record: recorder.record,
    take: recorder.take,
    add(deltas) { extra.push(...deltas); },
    flush,
    series(kind, id, range) {
      flush();
      const nowS = Math.floor(opts.clock.now().getTime() / 1000);
      const series = range === '24h' ? rows(qMinutes, kind, id, nowS - DAY)
        : range === '30d' ? rows(qDays, kind, id, nowS - (nowS % DAY) - 29 * DAY)
          : rows(qDays, kind, id, startOfMonthUtc(nowS));
      const totals = series.reduce((a, p) => ({ in: a.in + p.in, out: a.out + p.out }), { in: 0, out: 0 });
      return { series, totals };
    },
    monthTotals(kind) {
      flush();
      const nowS = Math.floor(opts.clock.now().getTime() / 1000);
      return (qMonth.all(kind, startOfMonthUtc(nowS)) as Array<{ id: string; bin: number; bout: number }>)
        .map((r) => ({ id: r.id, in: Number(r.bin), out: Number(r.bout) }));
    },
    close() {
      if (timer) clearInterval(timer);
      try { flush(); } finally { db.close(); }
    },
  };
}
