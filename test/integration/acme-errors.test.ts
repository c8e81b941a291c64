/**
 * What an operator sees when the CA says no or cannot be reached. Pebble has no rate limits, so a small
 * fake ACME server of our own (test/helpers/fake-ca.ts) answers 429 + Retry-After + a rateLimited problem.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { acmeConfigSchema } from '../../src/acme/config.ts';
import { AcmeError } from '../../src/acme/errors.ts';
import { createAcmeIssuer } from '../../src/acme/issuer.ts';
import { fixedClock, systemClock, type Clock } from '../../src/clock.ts';
import { silentLogger } from '../../src/log.ts';
import { startFakeCa, type FakeReply } from '../helpers/fake-ca.ts';
import { makeLoopbackTls } from '../helpers/pebble.ts';
import { testStorage } from '../helpers/storage.ts';

function setup(t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'edge-acme-errors-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tls = makeLoopbackTls();
  const caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, tls.ca);
  const issue = async (directoryUrl: string, extra: Record<string, unknown> = {}, clock: Clock = systemClock) => {
    const config = acmeConfigSchema.parse({ directoryUrl, caFile, agreeTos: true, skipChallengeVerification: true, pollMinMs: 20, ...extra });
    const issuer = createAcmeIssuer({ config, storage: testStorage(t, join(dir, 'certs')), log: silentLogger(), clock });
    t.after(() => issuer.close());
    return issuer.issue({ name: 'app.example.com', names: ['app.example.com'] }).then(() => null, (e: unknown) => e);
  };
  return { dir, tls, caFile, issue };
}

const rateLimited = (retryAfter: string): FakeReply => ({ status: 429, headers: { 'retry-after': retryAfter },
  body: { type: 'urn:ietf:params:acme:error:rateLimited', detail: 'too many certificates (5) already issued for this exact set of identifiers' } });

describe('ACME errors', () => {
  it('a 429 rateLimited answer is EDGE_ERR_ACME_RATE_LIMITED with retryAfter, without sleeping through it', async (t) => {
    const { tls, issue } = setup(t);
    const ca = await startFakeCa(t, tls, { account: rateLimited('3600') });

    // Default retryMaxAttempts (3): a Retry-After above maxRetryAfterSeconds must not be waited for.
    const err = await issue(ca.directoryUrl);

    assert.ok(err instanceof AcmeError, String(err));
    assert.equal(err.code, 'EDGE_ERR_ACME_RATE_LIMITED');
    assert.equal(err.problemType, 'urn:ietf:params:acme:error:rateLimited');
    assert.equal(err.retryAfter, 3600);
    assert.match(err.message, /too many certificates.*retry after 3600 s/);
    assert.equal(ca.hits.account, 1);
  });

  it('reads an HTTP-date Retry-After on newOrder against the injected clock', async (t) => {
    const { tls, issue } = setup(t);
    const ca = await startFakeCa(t, tls, { order: rateLimited('Tue, 01 Jan 2030 02:00:00 GMT') });

    const err = await issue(ca.directoryUrl, { retryMaxAttempts: 0 }, fixedClock('2030-01-01T00:00:00Z'));

    assert.ok(err instanceof AcmeError, String(err));
    assert.equal(err.code, 'EDGE_ERR_ACME_RATE_LIMITED');
    assert.equal(err.retryAfter, 7200);
    assert.equal(ca.hits.order, 1);
  });

  it('an unreachable CA is EDGE_ERR_ACME_CONNECTION naming the socket error', async (t) => {
    const { issue } = setup(t);
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    const port = (s.address() as net.AddressInfo).port;
    await new Promise((r) => s.close(r));

    const err = await issue(`https://127.0.0.1:${port}/dir`, { retryMaxAttempts: 0 });

    assert.ok(err instanceof AcmeError, String(err));
    assert.equal(err.code, 'EDGE_ERR_ACME_CONNECTION');
    assert.match(err.message, /ECONNREFUSED/);
  });

  it('a CA certificate we do not trust is EDGE_ERR_ACME_CONNECTION pointing at acme.caFile', async (t) => {
    const { tls, issue } = setup(t);
    const ca = await startFakeCa(t, tls, {});
    const other = makeLoopbackTls();
    const otherCa = join(mkdtempSync(join(tmpdir(), 'edge-acme-otherca-')), 'ca.pem');
    t.after(() => rmSync(join(otherCa, '..'), { recursive: true, force: true }));
    writeFileSync(otherCa, other.ca);

    const err = await issue(ca.directoryUrl, { retryMaxAttempts: 0, caFile: otherCa });

    assert.ok(err instanceof AcmeError, String(err));
    assert.equal(err.code, 'EDGE_ERR_ACME_CONNECTION');
    assert.match(err.message, /not trusted.*acme\.caFile/);
    assert.equal(ca.hits.account ?? 0, 0);
  });

  it('without agreeTos nothing is sent and the error is EDGE_ERR_ACME_TOS', async (t) => {
    const { tls, issue } = setup(t);
    const ca = await startFakeCa(t, tls, {});

    const err = await issue(ca.directoryUrl, { agreeTos: false });

    assert.ok(err instanceof AcmeError, String(err));
    assert.equal(err.code, 'EDGE_ERR_ACME_TOS');
    assert.match(err.message, /acme\.agreeTos: true/);
    assert.deepEqual(ca.hits, {});
  });

  it('an unusable acme section fails when the issuer is built: EDGE_ERR_ACME_CONFIG', (t) => {
    const { dir } = setup(t);
    const build = (extra: Record<string, unknown>) => () => createAcmeIssuer({
      config: acmeConfigSchema.parse({ directoryUrl: 'letsencrypt-staging', agreeTos: true, ...extra }),
      storage: testStorage(t, join(dir, 'certs')), log: silentLogger(), clock: systemClock,
    }).close();
    // A challenge folder inside certs.dir is refused by the config check and by the file storage itself
    // (test/unit/acme-config.test.ts, test/integration/storage-file.test.ts).
    assert.throws(build({ caFile: join(dir, 'missing.pem') }), (e: unknown) => e instanceof AcmeError && String(e.code) === 'EDGE_ERR_ACME_CONFIG'
      && /missing\.pem/.test(e.message));
  });
});

describe('ACME issuance cancelled', () => {
  it('an aborted signal rejects with the AbortError itself and sends nothing', async (t) => {
    const { dir, tls, caFile } = setup(t);
    const ca = await startFakeCa(t, tls, {});
    const config = acmeConfigSchema.parse({ directoryUrl: ca.directoryUrl, caFile, agreeTos: true });
    const issuer = createAcmeIssuer({ config, storage: testStorage(t, join(dir, 'certs')), log: silentLogger(), clock: systemClock });
    t.after(() => issuer.close());

    await assert.rejects(issuer.issue({ name: 'a.example.com', names: ['a.example.com'] }, AbortSignal.abort()), { name: 'AbortError' });
    assert.deepEqual(ca.hits, {});
  });
});
