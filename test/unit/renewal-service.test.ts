import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fixedClock } from '../../src/clock.ts';
import { CertError, ErrorCodes } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { createRenewalService } from '../../src/renewal/service.ts';
import type { Issuer } from '../../src/tls/issuer.ts';
import { makeSelfSigned } from '../../src/tls/selfsigned.ts';
import { createCertStore } from '../../src/tls/store.ts';

describe('renewal service', () => {
  it('backs off a name that never had a certificate, instead of asking the CA at every request', async (t) => {
    const clock = fixedClock(new Date());
    const store = createCertStore({ dir: join(mkdtempSync(join(tmpdir(), 'edge-svc-')), 'certs'), log: silentLogger(), clock });
    let calls = 0;
    let fail = true;
    const ca: Issuer = { source: 'letsencrypt', async issue(req) {
      calls++;
      if (fail) throw new CertError(ErrorCodes.ACME_UNAUTHORIZED, req.name, 'DNS points elsewhere');
      return makeSelfSigned(req.names, { clock });
    } };
    const target = { name: 'new.example.com', names: ['new.example.com'], source: 'letsencrypt' as const };
    const svc = createRenewalService({
      deps: () => ({ store, log: silentLogger(), clock, issuers: { letsencrypt: ca } }),
      targets: () => [target], renewWithinDays: () => 30, schedule: '0 2 * * *', timezone: 'UTC', runAtStart: false,
      onStored: async () => {}, log: silentLogger(), clock,
    });
    t.after(() => svc.close());
    svc.start();
    svc.request(target, 'new route');
    await svc.idle();
    assert.equal(calls, 1);
    // Reloads ask again; the backoff (1 minute after the first failure) holds them off.
    svc.request(target, 'reload');
    svc.request(target, 'reload');
    await svc.idle();
    assert.equal(calls, 1, 'no second attempt within the backoff');
    clock.set(new Date(clock.now().getTime() + 61_000));
    fail = false;
    svc.request(target, 'reload');
    await svc.idle();
    assert.equal(calls, 2);
    assert.equal((await store.read('new.example.com'))?.meta.source, 'letsencrypt');
  });
});
