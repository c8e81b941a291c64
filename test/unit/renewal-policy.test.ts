import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expiryWarning, nextAttemptAt, renewalDecision, retryBackoffMs } from '../../src/renewal/policy.ts';

const DAY = 86_400_000;
const T0 = Date.parse('2025-03-01T00:00:00Z');
const at = (days: number) => new Date(T0 + days * DAY);
const cert = (lifetimeDays: number) => ({ notBefore: at(0), notAfter: at(lifetimeDays) });

describe('renewalDecision', () => {
  const cases: Array<{ what: string; cert: ReturnType<typeof cert> | null; now: Date; within?: number; due: boolean; reason: RegExp | string; renewAt: Date | null }> = [
    { what: 'missing', cert: null, now: at(0), due: true, reason: 'no certificate', renewAt: null },
    // 90 days, window 30: the window is a third of the lifetime exactly, so the plain rule applies.
    { what: '90-day, fresh', cert: cert(90), now: at(1), due: false, reason: 'expires in 89 days (renews within 30, from 2025-04-30)', renewAt: at(60) },
    { what: '90-day, 31 days left', cert: cert(90), now: at(59), due: false, reason: /^expires in 31 days/, renewAt: at(60) },
    { what: '90-day, exactly 30 days left', cert: cert(90), now: at(60), due: true, reason: 'expires in 30 days (within 30)', renewAt: at(60) },
    { what: '90-day, 12 days left', cert: cert(90), now: at(78), due: true, reason: 'expires in 12 days (within 30)', renewAt: at(60) },
    { what: '90-day, hours left', cert: cert(90), now: new Date(T0 + 90 * DAY - 3_600_000), due: true, reason: 'expires in less than a day (within 30)', renewAt: at(60) },
    { what: '90-day, expired', cert: cert(90), now: at(91), due: true, reason: 'expired 2025-05-30T00:00:00.000Z', renewAt: at(60) },
    { what: '90-day, window 7', cert: cert(90), now: at(80), within: 7, due: false, reason: /renews within 7/, renewAt: at(83) },
    // 45 days: a 30-day window would be two thirds of it, so renew when a third (15 days) remains.
    { what: '45-day, 20 days left', cert: cert(45), now: at(25), due: false, reason: /^expires in 20 days; renews when one third of its 45-day lifetime remains/, renewAt: at(30) },
    { what: '45-day, 15 days left', cert: cert(45), now: at(30), due: true, reason: 'one third of its 45-day lifetime remains', renewAt: at(30) },
    { what: '45-day, 2 days left', cert: cert(45), now: at(43), due: true, reason: 'one third of its 45-day lifetime remains', renewAt: at(30) },
    { what: '45-day, expired', cert: cert(45), now: at(46), due: true, reason: /^expired 2025-04-15/, renewAt: at(30) },
    // 6 days: under 10 days, renew at half-life.
    { what: '6-day, fresh', cert: cert(6), now: at(1), due: false, reason: /half of its 6-day lifetime/, renewAt: at(3) },
    { what: '6-day, half left', cert: cert(6), now: at(3), due: true, reason: 'half of its 6-day lifetime remains', renewAt: at(3) },
    { what: '6-day, 1 day left', cert: cert(6), now: at(5), due: true, reason: 'half of its 6-day lifetime remains', renewAt: at(3) },
    { what: '6-day, small window keeps the plain rule', cert: cert(6), now: at(4), within: 1, due: false, reason: /^expires in 2 days \(renews within 1/, renewAt: at(5) },
    { what: '6-day, small window, due', cert: cert(6), now: at(5.5), within: 1, due: true, reason: 'expires in less than a day (within 1)', renewAt: at(5) },
    { what: 'not valid yet counts like fresh', cert: cert(90), now: at(-2), due: false, reason: /^expires in 92 days/, renewAt: at(60) },
    { what: 'broken validity', cert: { notBefore: at(5), notAfter: at(1) }, now: at(0), due: true, reason: /no valid validity period/, renewAt: null },
  ];
  for (const c of cases) {
    it(c.what, () => {
      const d = renewalDecision(c.cert, c.now, { renewWithinDays: c.within ?? 30 });
      assert.equal(d.due, c.due);
      if (typeof c.reason === 'string') assert.equal(d.reason, c.reason);
      else assert.match(d.reason, c.reason);
      assert.deepEqual(d.renewAt, c.renewAt);
    });
  }

  it('accepts ISO strings as stored in meta.json', () => {
    const d = renewalDecision({ notBefore: at(0).toISOString(), notAfter: at(90).toISOString() }, at(80), { renewWithinDays: 30 });
    assert.equal(d.due, true);
    assert.equal(d.reason, 'expires in 10 days (within 30)');
  });
});

describe('expiryWarning', () => {
  const cases: Array<[string, number, boolean]> = [
    ['8 days left', 8, false],
    ['7 days left', 7, true],
    ['1 day left', 1, true],
    ['expired', -1, true],
  ];
  for (const [what, left, warn] of cases) {
    it(what, () => assert.equal(expiryWarning(at(left), at(0)), warn));
  }
  // [lifetime in days, days left, warn]: short lifetimes warn within a quarter of them.
  const short: Array<[number, number, boolean]> = [[90, 7, true], [90, 8, false], [45, 7, true], [7, 7, false], [7, 3.5, false],
    [7, 1.7, true], [6, 1.6, false], [6, 1.4, true], [7, -1, true]];
  for (const [lifetime, left, warn] of short) {
    it(`${lifetime}-day certificate, ${left} days left: ${warn ? 'warns' : 'quiet'}`, () =>
      assert.equal(expiryWarning(at(left), at(0), at(left - lifetime)), warn));
  }
});

describe('retryBackoffMs', () => {
  const cases: Array<[number, number]> = [[0, 0], [1, 60_000], [2, 600_000], [3, 6_000_000], [4, 86_400_000], [20, 86_400_000]];
  for (const [failures, ms] of cases) {
    it(`${failures} failures`, () => assert.equal(retryBackoffMs(failures), ms));
  }
});

describe('nextAttemptAt', () => {
  const now = new Date('2025-03-01T00:00:00Z');
  const cases: Array<[string, number, number | undefined, string]> = [
    ['backoff alone', 1, undefined, '2025-03-01T00:01:00.000Z'],
    ['Retry-After later than the backoff wins', 1, 3600, '2025-03-01T01:00:00.000Z'],
    ['backoff later than Retry-After wins', 3, 60, '2025-03-01T01:40:00.000Z'],
  ];
  for (const [what, failures, retryAfter, want] of cases) {
    it(what, () => assert.equal(nextAttemptAt(now, failures, retryAfter).toISOString(), want));
  }
});
