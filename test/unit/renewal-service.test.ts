import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fixedClock, type Clock } from '../../src/clock.ts';
import { CertError, ErrorCodes } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import type { RenewTarget } from '../../src/renewal/renew.ts';
import { createRenewalService } from '../../src/renewal/service.ts';
import type { Issuer } from '../../src/tls/issuer.ts';
import { makeSelfSigned } from '../../src/tls/selfsigned.ts';
import type { CertStore } from '../../src/tls/store.ts';
import { tempDir } from '../helpers/certs.ts';
import { testCertStore } from '../helpers/storage.ts';

const target: RenewTarget = { name: 'new.example.com', names: ['new.example.com'], source: 'letsencrypt' };

/** A CA that refuses while `state.fail` is set, counting the attempts. */
function flakyCa(clock: Clock) {
  const state = { calls: 0, fail: true };
  const ca: Issuer = { source: 'letsencrypt', async issue(req) {
    state.calls++;
    if (state.fail) throw new CertError(ErrorCodes.ACME_UNAUTHORIZED, req.name, 'DNS points elsewhere');
    return makeSelfSigned(req.names, { clock });
  } };
  return { ca, state };
}

function service(t: TestContext, store: CertStore, ca: Issuer, clock: Clock) {
  const svc = createRenewalService({
    deps: () => ({ store, log: silentLogger(), clock, issuers: { letsencrypt: ca } }),
    targets: () => [target], renewWithinDays: () => 30, lockWaitMs: () => 120_000, schedule: '0 2 * * *', timezone: 'UTC', runAtStart: false,
    onStored: async () => {}, log: silentLogger(), clock,
  });
  t.after(() => svc.close());
  svc.start();
  return svc;
}

describe('renewal service', () => {
  it('backs off a name that never had a certificate, instead of asking the CA at every request', async (t) => {
    const clock = fixedClock(new Date());
    const store = testCertStore(t, join(await tempDir(t), 'certs'), clock);
    const { ca, state } = flakyCa(clock);
    const svc = service(t, store, ca, clock);
    svc.request(target, 'new route');
    await svc.idle();
    assert.equal(state.calls, 1);
    // Reloads ask again; the backoff (1 minute after the first failure) holds them off.
    svc.request(target, 'reload');
    svc.request(target, 'reload');
    await svc.idle();
    assert.equal(state.calls, 1, 'no second attempt within the backoff');
    clock.set(new Date(clock.now().getTime() + 61_000));
    state.fail = false;
    svc.request(target, 'reload');
    await svc.idle();
    assert.equal(state.calls, 2);
    assert.equal((await store.read('new.example.com'))?.meta.source, 'letsencrypt');
    assert.equal(await store.failure('new.example.com'), null);
  });

  it('keeps that backoff across a restart: a new service on the same store does not ask the CA again', async (t) => {
    const clock = fixedClock(new Date());
    const dir = join(await tempDir(t), 'certs');
    const { ca, state } = flakyCa(clock);
    const first = service(t, testCertStore(t, dir, clock), ca, clock);
    first.request(target, 'new route');
    await first.idle();
    await first.close();
    assert.equal(state.calls, 1);

    const restarted = service(t, testCertStore(t, dir, clock), ca, clock);
    restarted.request(target, 'start');
    await restarted.idle();
    assert.equal(state.calls, 1, 'the restarted service saw the stored backoff');
  });
});
