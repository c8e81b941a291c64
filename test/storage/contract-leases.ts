/**
 * The lease half of the storage contract suite (see contract.ts): exclusion between clients, timeouts that
 * name the holder, release by the owner only, takeover after the TTL, refresh, `lost`, the in-process queue
 * and abort signals. Durations are short TTLs; the tests wait on conditions, never on the clock alone.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ErrorCodes, LockTimeoutError } from '../../src/errors.ts';
import { waitFor } from '../helpers/net.ts';
import { assertHeldByOther, isCode, open, type MakeStorage } from './contract.ts';

/** Resolves once `Date.now()` has passed `t`: a condition to wait for, not a sleep. */
const passed = (t: number) => waitFor(`time ${new Date(t).toISOString()}`, () => Date.now() > t, t - Date.now() + 5_000);

export function leaseSuite(make: MakeStorage): void {
  it('a lease excludes another client until released; its timeout names the holder', async (t) => {
    const { a, other } = await open(t, make);
    const b = await other();
    const lease = await a.lock('certs/x.example.com');
    assert.equal(lease.name, 'certs/x.example.com');
    assert.equal(lease.lost.aborted, false);
    await assert.rejects(b.lock('certs/x.example.com', { waitMs: 0 }), assertHeldByOther);
    await assert.rejects(b.lock('certs/x.example.com', { waitMs: 300 }), assertHeldByOther);
    const unrelated = await b.lock('certs/y.example.com', { waitMs: 0 });
    await unrelated.release();
    await lease.release();
    await lease.release();
    const next = await b.lock('certs/x.example.com', { waitMs: 0 });
    assert.notEqual(next.token, lease.token);
    await next.release();
  });

  it('a waiting client gets the lease as soon as the holder releases it', async (t) => {
    const { a, other } = await open(t, make);
    const b = await other();
    const events: string[] = [];
    const first = await a.lock('acme/account-abc');
    const waiting = b.lock('acme/account-abc', { waitMs: 30_000 }).then((l) => { events.push('b got it'); return l; });
    await assert.rejects(a.lock('acme/account-abc', { waitMs: 0 }), LockTimeoutError);
    events.push('a releases');
    await first.release();
    await (await waiting).release();
    assert.deepEqual(events, ['a releases', 'b got it']);
  });

  it('callers in one client queue in order instead of failing, and a timeout names this process, not its pid', async (t) => {
    const { a } = await open(t, make);
    const events: string[] = [];
    const first = await a.lock('certs/q.example.com');
    const second = a.lock('certs/q.example.com', { waitMs: 30_000 }).then((l) => { events.push('second'); return l; });
    const third = a.lock('certs/q.example.com', { waitMs: 30_000 }).then((l) => { events.push('third'); return l; });
    const timedOut = await a.lock('certs/q.example.com', { waitMs: 0 }).then(() => null, (e: unknown) => e);
    assert.ok(timedOut instanceof LockTimeoutError, String(timedOut));
    assert.equal(timedOut.holder, null);
    assert.match(timedOut.message, /this process/);
    assert.doesNotMatch(timedOut.message, new RegExp(`pid ${process.pid}\\b`));
    events.push('first releases');
    await first.release();
    await (await second).release();
    await (await third).release();
    assert.deepEqual(events, ['first releases', 'second', 'third']);
  });

  it('an abort signal stops a wait, in this client and for another client\'s lease', async (t) => {
    const { a, other } = await open(t, make);
    const b = await other();
    const held = await a.lock('certs/abort.example.com');
    const mine = new AbortController();
    const theirs = new AbortController();
    const inProcess = a.lock('certs/abort.example.com', { waitMs: 60_000, signal: mine.signal });
    const crossClient = b.lock('certs/abort.example.com', { waitMs: 60_000, signal: theirs.signal });
    mine.abort();
    theirs.abort();
    await assert.rejects(inProcess, { name: 'AbortError' });
    await assert.rejects(crossClient, { name: 'AbortError' });
    await assert.rejects(b.lock('certs/abort.example.com', { signal: AbortSignal.abort() }), { name: 'AbortError' });
    await held.release();
    // The aborted waiters left nothing behind: the lease is free for both clients at once.
    await (await a.lock('certs/abort.example.com', { waitMs: 0 })).release();
    await (await b.lock('certs/abort.example.com', { waitMs: 0 })).release();
  });

  it('a lease not refreshed for its TTL is taken over; the old holder learns it is lost and cannot release the new one', async (t) => {
    const { a, other } = await open(t, make);
    const b = await other();
    const c = await other();
    // A holder that stops refreshing, as a frozen or killed process would.
    const stale = await a.lock('state/renewal/lapse', { ttlMs: 300, autoRefresh: false });
    const taken = await b.lock('state/renewal/lapse', { waitMs: 15_000 });
    await assert.rejects(stale.refresh(), isCode(ErrorCodes.STORAGE_LEASE_LOST));
    assert.equal(stale.lost.aborted, true);
    assert.ok(isCode(ErrorCodes.STORAGE_LEASE_LOST)(stale.lost.reason));
    await stale.release();
    await assert.rejects(c.lock('state/renewal/lapse', { waitMs: 0 }), assertHeldByOther);
    await taken.release();
  });

  it('a held lease is refreshed past its TTL, by itself or by refresh()', async (t) => {
    const { a, other } = await open(t, make);
    const b = await other();
    const auto = await a.lock('certs/auto.example.com', { ttlMs: 900 });
    const manual = await a.lock('certs/manual.example.com', { ttlMs: 900, autoRefresh: false });
    // Three TTLs: without refreshes both leases would have lapsed twice over.
    const until = Date.now() + 2_700;
    for (let next = Date.now() + 150; next < until; next += 150) {
      await passed(next);
      await manual.refresh();
    }
    await passed(until);
    await assert.rejects(b.lock('certs/auto.example.com', { waitMs: 0 }), assertHeldByOther);
    await assert.rejects(b.lock('certs/manual.example.com', { waitMs: 0 }), assertHeldByOther);
    assert.equal(auto.lost.aborted, false);
    await auto.release();
    await manual.release();
    await (await b.lock('certs/auto.example.com', { waitMs: 0 })).release();
  });
}
