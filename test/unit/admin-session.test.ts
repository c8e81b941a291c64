/** Dashboard sessions: cookie attributes, lookup, sliding expiry, sign-out. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { COOKIE, cookieValue, createSessions, SESSION_TTL_MS } from '../../src/admin/session.ts';

describe('dashboard sessions', () => {
  it('are HttpOnly, SameSite=Strict cookies of random IDs that expire unless used, and end on sign-out', () => {
    let now = 1_000_000;
    const s = createSessions(() => now);
    const set = s.create();
    assert.match(set, new RegExp(`^${COOKIE}=[A-Za-z0-9_-]{43}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_TTL_MS / 1000}$`));
    const cookie = `theme=dark; ${set.split(';')[0]}`;
    assert.equal(s.valid(cookie), true);
    assert.equal(s.valid(`${COOKIE}=${'A'.repeat(43)}`), false, 'an ID never handed out');
    assert.equal(s.valid(undefined), false);
    now += SESSION_TTL_MS - 1;
    assert.equal(s.valid(cookie), true, 'use extends it');
    now += SESSION_TTL_MS - 1;
    assert.equal(s.valid(cookie), true);
    now += SESSION_TTL_MS;
    assert.equal(s.valid(cookie), false, 'expired');
    const again = s.create().split(';')[0]!;
    assert.match(s.end(again), /Max-Age=0/);
    assert.equal(s.valid(again), false);
  });

  it('reads one cookie out of a Cookie header', () => {
    assert.equal(cookieValue('a=1; b=2;c=3', 'b'), '2');
    assert.equal(cookieValue('ab=1', 'b'), null);
    assert.equal(cookieValue(undefined, 'b'), null);
  });
});
