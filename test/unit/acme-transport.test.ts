/**
 * The ACME transport keeps nothing in acme-client's shared axios instance beyond its own lifetime: its
 * hooks are added when it is made and removed by close(), and no default of the shared instance changes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import acme from 'acme-client';
import { systemClock } from '../../src/clock.ts';
import { createAcmeTransport } from '../../src/acme/client.ts';

type Handlers = { handlers: Array<unknown | null> };
const live = (i: unknown) => (i as Handlers).handlers.filter((h) => h !== null).length;

describe('ACME transport', () => {
  it('adds its hooks on creation, removes them on close, and writes no shared default', () => {
    const ax = acme.axios as typeof acme.axios & { defaults: { acmeSettings: unknown } };
    const before = { req: live(ax.interceptors.request), res: live(ax.interceptors.response), settings: JSON.stringify(ax.defaults.acmeSettings) };
    const opts = { directoryUrl: 'https://127.0.0.1:1/dir', requestTimeoutMs: 1000, retryMaxAttempts: 0, maxRetryAfterSeconds: 60,
      retryMinMs: 10, retryMaxMs: 100, clock: systemClock };
    const a = createAcmeTransport(opts);
    const b = createAcmeTransport({ ...opts, retryMaxAttempts: 3 });
    assert.equal(live(ax.interceptors.request), before.req + 2);
    assert.equal(live(ax.interceptors.response), before.res + 2);
    a.close();
    b.close();
    assert.equal(live(ax.interceptors.request), before.req);
    assert.equal(live(ax.interceptors.response), before.res);
    assert.equal(JSON.stringify(ax.defaults.acmeSettings), before.settings);
  });
});
