/**
 * A CA that misbehaves: accepts connections and never answers, refuses them, has no address, answers 5xx
 * or 429. Each attempt ends with the real error (never acme-client's `TypeError ... reading 'config'`) in
 * bounded time: a request timeout is not retried, 5xx/429 are retried a bounded number of times after
 * their Retry-After, and acme.attemptTimeoutMs ends the whole attempt. The failure and its backoff are
 * recorded where `idcs-edge certs` shows them, also for a name that never had a certificate.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { stringify } from 'yaml';
import { AcmeError } from '../../src/acme/errors.ts';
import { acmeSection, tempDir, testIssuer } from '../helpers/acme.ts';
import { runCli } from '../helpers/cli.ts';
import { startFakeCa } from '../helpers/fake-ca.ts';
import { deadPort } from '../helpers/net.ts';
import { makeLoopbackTls } from '../helpers/pebble.ts';

const NAME = { name: 'app.example.com', names: ['app.example.com'] };
const problem = (type: string, detail: string) => ({ type: `urn:ietf:params:acme:error:${type}`, detail });

function setup(t: TestContext) {
  const dir = tempDir(t, 'edge-acme-ca-');
  const tls = makeLoopbackTls();
  const caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, tls.ca);
  const issue = async (directoryUrl: string, extra: Record<string, unknown> = {}) => {
    const { issuer } = testIssuer(t, dir, acmeSection({ directoryUrl, caFile }, { retryMaxAttempts: 3, ...extra }));
    const err = await issuer.issue(NAME).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof AcmeError, String(err));
    assert.doesNotMatch(err.message, /Cannot read properties/);
    return err;
  };
  return { dir, tls, caFile, issue };
}

/** A TCP server that accepts and never answers; with `tls`, it completes the handshake first. */
async function silentServer(t: TestContext, tls?: { cert: string; key: string }): Promise<string> {
  const server = tls ? https.createServer({ cert: tls.cert, key: tls.key }, () => {}) : net.createServer(() => {});
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }));
  return `https://127.0.0.1:${(server.address() as net.AddressInfo).port}/dir`;
}

describe('a CA that misbehaves', () => {
  it('accepts and never answers (TCP, or TLS without HTTP): EDGE_ERR_ACME_CONNECTION after acme.requestTimeoutMs, not retried', async (t) => {
    const { tls, issue } = setup(t);
    for (const url of [await silentServer(t), await silentServer(t, tls)]) {
      const err = await issue(url, { requestTimeoutMs: 1_000 });
      assert.equal(err.code, 'EDGE_ERR_ACME_CONNECTION');
      assert.match(err.message, /ECONNABORTED: timeout of 1000ms exceeded/);
    }
  });

  it('refuses connections: the socket error after the retries, never a TypeError', async (t) => {
    const { issue } = setup(t);
    const err = await issue(`https://127.0.0.1:${await deadPort(t)}/dir`);
    assert.equal(err.code, 'EDGE_ERR_ACME_CONNECTION');
    assert.match(err.message, /ECONNREFUSED: connect ECONNREFUSED 127\.0\.0\.1:\d+; gave up after 3 retries \(acme\.retryMaxAttempts\)/);
  });

  it('answers 5xx: retried after its Retry-After, then a clear error naming the status and the retries', async (t) => {
    const { tls, issue } = setup(t);
    const ca = await startFakeCa(t, tls, {
      account: [{ status: 503, headers: { 'retry-after': '1' }, body: problem('serverInternal', 'maintenance') }, 'default'],
      order: { status: 503, body: problem('serverInternal', 'the database is on fire') },
    });
    const err = await issue(ca.directoryUrl, { retryMaxAttempts: 2 });
    assert.equal(err.code, 'EDGE_ERR_ACME_FAILED');
    assert.match(err.message, /\(serverInternal\): the database is on fire \(HTTP 503; gave up after 2 retries \(acme\.retryMaxAttempts\)\)/);
    assert.equal(ca.hits.account, 2, 'newAccount retried once, then created');
    assert.ok(ca.times.account![1]! - ca.times.account![0]! >= 950, 'the retry waited for Retry-After: 1');
    assert.equal(ca.hits.order, 3, 'newOrder: one try and two retries');
  });

  it('keeps retrying within bounds: acme.attemptTimeoutMs ends the attempt, naming the step', async (t) => {
    const { tls, issue } = setup(t);
    const ca = await startFakeCa(t, tls, { account: { status: 503, headers: { 'retry-after': '1' }, body: problem('serverInternal', 'busy') } });
    const err = await issue(ca.directoryUrl, { retryMaxAttempts: 10, attemptTimeoutMs: 1_500 });
    assert.equal(err.code, 'EDGE_ERR_ACME_FAILED');
    assert.match(err.message, /gave up on app\.example\.com after 1500 ms \(acme\.attemptTimeoutMs\) while registering the ACME account/);
    assert.ok(ca.hits.account! < 10);
  });

  it('rate-limits a name that never had a certificate: the backoff follows Retry-After and `idcs-edge certs` shows it', async (t) => {
    const { dir, tls, caFile } = setup(t);
    const ca = await startFakeCa(t, tls, { order: { status: 429, headers: { 'retry-after': '7200' }, body: problem('rateLimited', 'too many new orders') } });
    const configFile = join(dir, 'edge.yaml');
    writeFileSync(configFile, stringify({
      listen: { http: 0, https: 0, host: '127.0.0.1' }, certs: { dir: join(dir, 'certs') }, data: { dir: join(dir, 'data') }, log: { file: null },
      acme: acmeSection({ directoryUrl: ca.directoryUrl, caFile }, { retryMaxAttempts: 3 }),
      proxies: [{ domain: 'app.example.com', target: '127.0.0.1', ssl: true, certSource: 'letsencrypt' }],
    }));

    const renew = await runCli(['--renew-ssl', '--config', configFile]);
    assert.equal(renew.code, 1, renew.stdout + renew.stderr);
    assert.match(renew.stdout, /app\.example\.com\s+letsencrypt\s+-\s+-\s+failed\s+no certificate: EDGE_ERR_ACME_RATE_LIMITED .*too many new orders; retry after 7200 s/);
    assert.equal(ca.hits.order, 1, 'a Retry-After above maxRetryAfterSeconds is not waited for');

    const certs = await runCli(['certs', '--config', configFile]);
    assert.equal(certs.code, 0, certs.stderr);
    const row = certs.stdout.split('\n').find((l) => l.startsWith('app.example.com')) ?? '';
    assert.match(row, /EDGE_ERR_ACME_RATE_LIMITED: .*\(1 failed, next attempt (\S+ \S+)\) \(no certificate yet\)/);
    const next = Date.parse(`${/next attempt (\S+ \S+)\)/.exec(row)![1]!.replace(' ', 'T')}Z`);
    assert.ok(next - Date.now() > 1.9 * 3_600_000, `the next attempt honours Retry-After (2 h): ${row}`);
  });

  it('has no address: the resolver error, never a TypeError (in a network namespace with only loopback)', async (t) => {
    const probe = spawnSync('unshare', ['-rn', 'true']);
    if (probe.status !== 0) {
      t.skip(`cannot make a network namespace here (unshare -rn): ${probe.stderr?.toString().trim()}`);
      return;
    }
    const { dir, caFile } = setup(t);
    const configFile = join(dir, 'edge.yaml');
    writeFileSync(configFile, stringify({
      listen: { http: 0, https: 0, host: '127.0.0.1' }, certs: { dir: join(dir, 'certs') }, data: { dir: join(dir, 'data') }, log: { file: null },
      acme: acmeSection({ directoryUrl: 'https://ca.invalid/dir', caFile }, { retryMaxAttempts: 3 }),
      proxies: [{ domain: 'app.example.com', target: '127.0.0.1', ssl: true, certSource: 'letsencrypt' }],
    }));
    // The namespace has no route anywhere: the name lookup fails without any packet leaving the host.
    const r = spawnSync('unshare', ['-rn', process.execPath, 'src/cli.ts', '--renew-ssl', '--config', configFile], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /EDGE_ERR_ACME_CONNECTION cannot reach the ACME CA at https:\/\/ca\.invalid\/dir \((EAI_AGAIN|ENOTFOUND): getaddrinfo \S+ ca\.invalid; gave up after 3 retries/);
    assert.doesNotMatch(r.stdout + r.stderr, /Cannot read properties/);
  });
});
