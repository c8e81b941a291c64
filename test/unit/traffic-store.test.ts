/**
 * Traffic statistics with a fake clock and a real SQLite file: buckets per minute and per day, ranges,
 * retention, totals that survive reopening, and workers' increments added by the primary.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { fixedClock } from '../../src/clock.ts';
import { createTrafficRecorder, openTrafficStore, trafficFile } from '../../src/stats/traffic.ts';
import { tempDir } from '../helpers/certs.ts';

const T0 = '2026-03-10T12:00:30Z';

describe('traffic store', () => {
  it('waits for a lock another process holds on the database instead of failing to open', async (t) => {
    const dir = await tempDir(t, 'traffic-');
    // Another process (a second edge or the CLI on the same data dir) holds the database for a moment.
    const holder = spawn(process.execPath, ['-e', `
      const { DatabaseSync } = require('node:sqlite');
      const db = new DatabaseSync(${JSON.stringify(trafficFile(dir))});
      db.exec('CREATE TABLE held (x); BEGIN EXCLUSIVE; INSERT INTO held VALUES (1);');
      process.stdout.write('locked\\n');
      setTimeout(() => { db.exec('COMMIT'); db.close(); }, 300);`], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => { if (holder.exitCode === null) holder.kill('SIGKILL'); });
    await once(holder.stdout, 'data');
    const s = openTrafficStore({ dir, clock: fixedClock(T0), flushEveryMs: 0 });
    t.after(() => s.close());
    s.record('vm', 'user1/web1', 1, 2);
    s.flush();
    assert.deepEqual(s.monthTotals('vm'), [{ id: 'user1/web1', in: 1, out: 2 }]);
  });

  it('sums per minute and per day; 24h, 30d and month ranges; totals survive a reopen', async (t) => {
    const dir = await tempDir(t, 'traffic-');
    const clock = fixedClock(T0);
    let s = openTrafficStore({ dir, clock, flushEveryMs: 0 });
    s.record('vm', 'user1/web1', 100, 1000);
    s.record('vm', 'user1/web1', 50, 500);
    s.record('vm', 'user1/web2', 7, 7);
    clock.set('2026-03-10T12:01:10Z');
    s.record('vm', 'user1/web1', 1, 2);
    clock.set('2026-03-01T08:00:00Z');
    s.record('vm', 'user1/web1', 10, 20); // earlier this month
    clock.set('2026-02-27T08:00:00Z');
    s.record('vm', 'user1/web1', 3, 3); // last month
    s.close();
    clock.set('2026-03-10T12:05:00Z');
    s = openTrafficStore({ dir, clock, flushEveryMs: 0 });
    t.after(() => s.close());
    const day = s.series('vm', 'user1/web1', '24h');
    assert.deepEqual(day.series, [
      { t: Date.parse('2026-03-10T12:00:00Z') / 1000, in: 150, out: 1500 },
      { t: Date.parse('2026-03-10T12:01:00Z') / 1000, in: 1, out: 2 },
    ]);
    assert.deepEqual(day.totals, { in: 151, out: 1502 });
    assert.deepEqual(s.series('vm', 'user1/web1', 'month').totals, { in: 161, out: 1522 });
    assert.deepEqual(s.series('vm', 'user1/web1', '30d').totals, { in: 164, out: 1525 });
    assert.deepEqual(s.monthTotals('vm'), [{ id: 'user1/web1', in: 161, out: 1522 }, { id: 'user1/web2', in: 7, out: 7 }]);
    assert.deepEqual(s.series('vm', 'nobody/none', '24h'), { series: [], totals: { in: 0, out: 0 } });
  });

  it('keeps minutes 48 hours and days 13 months', async (t) => {
    const dir = await tempDir(t, 'traffic-');
    const clock = fixedClock(T0);
    const s = openTrafficStore({ dir, clock, flushEveryMs: 0 });
    t.after(() => s.close());
    s.record('proxy', 'app.example.com', 1, 1);
    s.flush();
    clock.advanceDays(3);
    s.flush(); // prunes: the minute bucket is gone, the day total stays
    assert.equal(s.series('proxy', 'app.example.com', '24h').series.length, 0);
    assert.deepEqual(s.series('proxy', 'app.example.com', '30d').totals, { in: 1, out: 1 });
    clock.advanceDays(400);
    s.flush();
    assert.equal(s.series('proxy', 'app.example.com', '30d').series.length, 0);
  });

  it('adds the increments a worker recorded', async (t) => {
    const dir = await tempDir(t, 'traffic-');
    const clock = fixedClock(T0);
    const s = openTrafficStore({ dir, clock, flushEveryMs: 0 });
    t.after(() => s.close());
    const worker = createTrafficRecorder(clock);
    worker.record('vm', 'u/a', 5, 6);
    worker.record('vm', 'u/a', 5, 6);
    s.record('vm', 'u/a', 1, 1);
    s.add(worker.take());
    assert.deepEqual(worker.take(), [], 'taken whole');
    assert.deepEqual(s.series('vm', 'u/a', '24h').totals, { in: 11, out: 13 });
  });

  it('counts requests by status class, lists totals per VM, and opens read-only for the CLI', async (t) => {
    const dir = await tempDir(t, 'traffic-');
    const clock = fixedClock(T0);
    const s = openTrafficStore({ dir, clock, flushEveryMs: 0 });
    s.record('vm', 'u/a', 10, 20, 1);
    s.record('vm', 'u/a', 10, 20, 1);
    s.record('vm', 'u/a', 1, 2, 4);
    s.record('vm', 'u/a', 100, 200); // an open WebSocket's bytes: not a request
    s.record('vm', 'u/b', 5, 5, 0);
    assert.deepEqual(s.requests('vm', 'u/a', '24h'), {
      series: [{ t: Date.parse('2026-03-10T12:00:00Z') / 1000, '1xx': 0, '2xx': 2, '3xx': 0, '4xx': 0, '5xx': 1 }],
      totals: { '1xx': 0, '2xx': 2, '3xx': 0, '4xx': 0, '5xx': 1 },
    });
    assert.deepEqual(s.totals('vm', '24h'), [{ id: 'u/a', in: 121, out: 242 }, { id: 'u/b', in: 5, out: 5 }]);
    s.close();
    const r = openTrafficStore({ dir, clock, readOnly: true });
    t.after(() => r.close());
    r.record('vm', 'u/a', 1, 1);
    assert.deepEqual(r.monthTotals('vm'), [{ id: 'u/a', in: 121, out: 242 }, { id: 'u/b', in: 5, out: 5 }], 'a reader writes nothing');
    assert.throws(() => openTrafficStore({ dir: `${dir}/none`, clock, readOnly: true }));
  });
});
