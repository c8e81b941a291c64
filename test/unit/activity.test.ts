/** Per-proxy activity: requests and 5xx of the last minute in one-second buckets, recent failures bounded, workers merged. */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { FAILURES_KEPT, mergeActivity, recordActivity } from '../../src/metrics/activity.ts';
import { createRequestEvents, type RequestContext } from '../../src/proxy/context.ts';

const ctx = (domain: string | null, status: number, code?: string, url = '/'): RequestContext => ({
  id: `id-${status}`, req: { url, method: 'GET' } as IncomingMessage, host: domain ?? 'x.example.com', status,
  match: domain ? { route: { domain } } : null, failure: code ? { code, message: `${code} happened` } : null,
} as unknown as RequestContext);

describe('activity', () => {
  it('counts the last 60 seconds and forgets older ones', () => {
    let now = Date.parse('2026-12-01T00:00:00.500Z');
    const events = createRequestEvents((e) => { throw e; });
    const a = recordActivity(events, () => now);
    events.emitFinished(ctx('a.example.com', 200));
    events.emitFinished(ctx('a.example.com', 502, 'EDGE_ERR_UPSTREAM_REFUSED', '/pay?card=1'));
    now += 30_000;
    events.emitFinished(ctx('a.example.com', 503));
    events.emitFinished(ctx(null, 404, 'EDGE_ERR_NO_ROUTE'));
    let s = a.snapshot();
    assert.deepEqual([s.proxies['a.example.com']!.requests, s.proxies['a.example.com']!.errors], [3, 2]);
    assert.deepEqual(s.proxies['a.example.com']!.failures.map((f) => [f.status, f.code, f.path]), [[503, null, '/'], [502, 'EDGE_ERR_UPSTREAM_REFUSED', '/pay']]);
    assert.equal(s.proxies['-']!.failures[0]!.code, 'EDGE_ERR_NO_ROUTE', 'unknown hosts under "-"');
    now += 30_000; // the first two are now 60 s old
    s = a.snapshot();
    assert.deepEqual([s.proxies['a.example.com']!.requests, s.proxies['a.example.com']!.errors], [1, 1]);
    now += 120_000;
    assert.equal(a.snapshot().proxies['a.example.com']!.requests, 0);
    assert.equal(a.snapshot().proxies['a.example.com']!.failures.length, 2, 'failures stay after the window');
  });

  it('keeps the most recent failures only, and merges workers newest first', () => {
    let now = Date.parse('2026-12-01T00:00:00Z');
    const events = createRequestEvents((e) => { throw e; });
    const a = recordActivity(events, () => now);
    for (let i = 0; i < FAILURES_KEPT + 5; i++) { now += 1000; events.emitFinished(ctx('a.example.com', 502, 'EDGE_ERR_UPSTREAM_RESET', `/${i}`)); }
    const s = a.snapshot();
    assert.equal(s.proxies['a.example.com']!.failures.length, FAILURES_KEPT);
    assert.equal(s.proxies['a.example.com']!.failures[0]!.path, `/${FAILURES_KEPT + 4}`);
    const other = { windowSeconds: 60, proxies: { 'a.example.com': { requests: 7, errors: 0, failures: [{ ...s.proxies['a.example.com']!.failures[0]!, at: '2027-01-01T00:00:00.000Z', path: '/newest' }] } } };
    const m = mergeActivity([s, other]);
    assert.equal(m.proxies['a.example.com']!.requests, s.proxies['a.example.com']!.requests + 7);
    assert.equal(m.proxies['a.example.com']!.failures[0]!.path, '/newest');
    assert.equal(m.proxies['a.example.com']!.failures.length, FAILURES_KEPT);
  });
});
