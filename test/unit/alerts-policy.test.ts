/** When certificate alerts are due: a table of renewal results, alert memories and times. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideAlerts, REPEAT_MS, type AlertMemory } from '../../src/alerts/policy.ts';
import type { RenewResult } from '../../src/renewal/renew.ts';

const NOW = new Date('2026-12-01T02:00:00Z');
const DAY = 86_400_000;
const inDays = (d: number) => new Date(NOW.getTime() + d * DAY).toISOString();
const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();
const result = (action: RenewResult['action'], before: string | null, after: string | null = before): RenewResult => ({
  name: 'app.example.com', source: 'letsencrypt', before, after, action, reason: 'why',
  ...(action === 'failed' ? { error: { code: 'EDGE_ERR_ACME_UNAUTHORIZED', message: 'no' } } : {}),
});

describe('alert policy', () => {
  const cases: Array<[string, RenewResult, AlertMemory | null, string[], AlertMemory | null | 'same']> = [
    ['a fresh certificate skipped', result('skipped', inDays(60)), null, [], 'same'],
    ['a first failure, far from expiry', result('failed', inDays(20)), null, ['certificate.renewal_failed'], { failedAt: NOW.toISOString() }],
    ['a failure close to expiry', result('failed', inDays(3)), null, ['certificate.renewal_failed', 'certificate.expiring'],
      { failedAt: NOW.toISOString(), expiringAt: NOW.toISOString() }],
    ['a failure without any certificate', result('failed', null), null, ['certificate.renewal_failed'], { failedAt: NOW.toISOString() }],
    ['the retry 10 minutes later', result('failed', inDays(20)), { failedAt: ago(600_000) }, [], 'same'],
    ['the next day\'s scan, a little earlier', result('failed', inDays(19)), { failedAt: ago(REPEAT_MS) }, ['certificate.renewal_failed'], { failedAt: NOW.toISOString() }],
    ['backing off, still expiring, alerted an hour ago', result('skipped', inDays(3)), { failedAt: ago(3_600_000), expiringAt: ago(3_600_000) }, [], 'same'],
    ['an upload close to expiry', result('reported', inDays(5)), null, ['certificate.expiring'], { expiringAt: NOW.toISOString() }],
    ['renewed after trouble', result('renewed', inDays(3), inDays(90)), { failedAt: ago(3_600_000) }, ['certificate.recovered'], null],
    ['renewed, never in trouble', result('renewed', inDays(25), inDays(90)), null, [], 'same'],
    ['an upload replaced after its expiry alert', result('reported', inDays(300)), { expiringAt: ago(DAY) }, ['certificate.recovered'], null],
    ['skipped while backing off is no recovery', result('skipped', inDays(20)), { failedAt: ago(60_000) }, [], 'same'],
    ['abandoned at shutdown', result('abandoned', inDays(3)), null, [], 'same'],
  ];
  for (const [what, r, memory, events, next] of cases) {
    it(what, () => {
      const d = decideAlerts(r, memory, NOW);
      assert.deepEqual(d.alerts.map((a) => a.event), events);
      if (next === 'same') assert.equal(d.memory, memory);
      else assert.deepEqual(d.memory, next);
    });
  }

  it('says what, when and why', () => {
    const [a] = decideAlerts(result('failed', inDays(3.5)), null, NOW).alerts;
    assert.deepEqual(a, { event: 'certificate.renewal_failed', name: 'app.example.com', source: 'letsencrypt', notAfter: inDays(3.5), daysLeft: 3,
      reason: 'why', error: { code: 'EDGE_ERR_ACME_UNAUTHORIZED', message: 'no' }, at: NOW.toISOString() });
  });
});
