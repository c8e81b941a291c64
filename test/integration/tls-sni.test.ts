/**
 * The SNI side against real clients: a tls.Server on 127.0.0.1 port 0 using the manager's sniCallback, and
 * tls.connect with a servername. Every assertion is on the certificate the client received.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { before, describe, it, type TestContext } from 'node:test';
import tls from 'node:tls';
import { systemClock } from '../../src/clock.ts';
import { validateConfig } from '../../src/config/load.ts';
import { ConfigError, ErrorCodes } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { buildRouteTable } from '../../src/routing/table.ts';
import { createCertManager, type CertManager } from '../../src/tls/contexts.ts';
import { createSelfSignedIssuer, makeSelfSigned } from '../../src/tls/selfsigned.ts';
import { createCertStore, type CertStore } from '../../src/tls/store.ts';
import { testStorage } from '../helpers/storage.ts';
import { makeCa, makeLeaf, tempDir, writeTemp, type TestCa, type TestLeaf } from '../helpers/certs.ts';
import { peerCertificate, waitFor } from '../helpers/net.ts';

const NODE = resolve('node_modules/.bin/node');

function manager(t: TestContext, dir: string, extra: Partial<Parameters<typeof createCertManager>[0]> = {}): { store: CertStore; certs: CertManager } {
  const log = silentLogger();
  const store = createCertStore({ storage: testStorage(t, dir), log, clock: systemClock });
  const certs = createCertManager({ store, log, clock: systemClock, selfSigned: createSelfSignedIssuer({ clock: systemClock }), ...extra });
  return { store, certs };
}

async function serve(t: TestContext, certs: CertManager): Promise<number> {
  const def = await certs.defaultCertificate();
  const server = tls.createServer({ cert: def.certPem, key: def.keyPem, SNICallback: certs.sniCallback, minVersion: 'TLSv1.2' },
    (socket) => socket.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  t.after(() => certs.close());
  return (server.address() as AddressInfo).port;
}

/** Connects trusting only `ca`; resolves to whether the client accepted the chain for `servername`. */
function verifiedBy(port: number, servername: string, ca: string): Promise<{ authorized: boolean; error: string | undefined }> {
  return new Promise((res, rej) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, ca, rejectUnauthorized: false }, () => {
      res({ authorized: s.authorized, error: s.authorizationError?.toString() });
      s.destroy();
    });
    s.on('error', rej);
  });
}

const proxies = (shop: { certFile: string; keyFile: string }) => [
  { domain: 'app.example.com', target: '10.0.0.5', ssl: true },
  { domain: '*.user1.example.com', owner: 'user1', ssl: true },
  { domain: 'shop.example.com', target: '10.0.0.6', ssl: true, certSource: 'upload', ...shop },
  { domain: 'plain.example.com', target: '10.0.0.7' },
];

describe('SNI certificate selection', () => {
  let ca: TestCa;
  let shop: TestLeaf;
  let wrong: TestLeaf;
  before(async () => {
    ca = await makeCa();
    [shop, wrong] = await Promise.all([makeLeaf({ ca, names: ['shop.example.com'] }), makeLeaf({ ca, names: ['elsewhere.example.com'] })]);
  });

  it('serves the exact, wildcard, uploaded and default certificates to real clients', async (t) => {
    const files = await writeTemp(t, { 'shop.pem': shop.chainPem, 'shop.key': shop.keyPem });
    const { certs } = manager(t, join(await tempDir(t), 'certs'));
    const table = buildRouteTable(validateConfig({ proxies: proxies({ certFile: files.path('shop.pem'), keyFile: files.path('shop.key') }) }));
    certs.activate(await certs.prepare(table));
    const port = await serve(t, certs);

    const app = await peerCertificate(port, 'app.example.com');
    assert.equal(app.subject.CN, 'app.example.com');
    assert.equal(app.subjectaltname, 'DNS:app.example.com');
    assert.equal((await peerCertificate(port, 'APP.Example.com')).fingerprint256, app.fingerprint256);

    const vm = await peerCertificate(port, 'vm1.user1.example.com');
    assert.equal(vm.subjectaltname, 'DNS:*.user1.example.com');
    assert.equal(vm.subject.CN, '*.user1.example.com');

    assert.deepEqual(await verifiedBy(port, 'shop.example.com', ca.certPem), { authorized: true, error: undefined });
    assert.equal((await peerCertificate(port, 'shop.example.com')).issuer.CN, ca.cn);

    for (const other of ['unknown.example.com', 'a.b.user1.example.com', 'user1.example.com', 'plain.example.com', undefined]) {
      const c = await peerCertificate(port, other);
      assert.equal(c.subjectaltname, 'DNS:idcs-edge.invalid', `servername ${other}`);
    }
    assert.deepEqual(certs.servedCertificates().map((c) => [c.name, c.source, c.domains.join()]), [
      ['app.example.com', 'self-signed', 'app.example.com'],
      ['*.user1.example.com', 'self-signed', '*.user1.example.com'],
      ['shop.example.com', 'upload', 'shop.example.com'],
      ['default', 'self-signed', ''],
    ]);
  });

  it('reuses stored self-signed certificates across restarts', async (t) => {
    const dir = join(await tempDir(t), 'certs');
    const table = buildRouteTable(validateConfig({ proxies: [{ domain: 'app.example.com', target: '10.0.0.5', ssl: true }] }));
    const first = manager(t, dir).certs;
    first.activate(await first.prepare(table));
    const second = manager(t, dir).certs;
    second.activate(await second.prepare(table));
    const port = await serve(t, second);
    const served = await peerCertificate(port, 'app.example.com');
    assert.equal(served.fingerprint256, first.servedCertificates()[0]!.fingerprint256);
    assert.equal(served.fingerprint256, second.servedCertificates()[0]!.fingerprint256);
  });

  it('refuses the config with every bad upload named by its path', async (t) => {
    const files = await writeTemp(t, { 'wrong.pem': wrong.certPem, 'wrong.key': wrong.keyPem });
    const { certs } = manager(t, join(await tempDir(t), 'certs'));
    const table = buildRouteTable(validateConfig({ proxies: [
      { domain: 'app.example.com', target: '10.0.0.5', ssl: true },
      { domain: 'shop.example.com', target: '10.0.0.6', ssl: true, certSource: 'upload', certFile: files.path('wrong.pem'), keyFile: files.path('wrong.key') },
      { domain: 'blog.example.com', target: '10.0.0.6', ssl: true, certSource: 'upload', certFile: files.path('missing.pem'), keyFile: files.path('wrong.key') },
    ] }));
    await assert.rejects(certs.prepare(table), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.code, ErrorCodes.CONFIG_INVALID);
      assert.deepEqual(e.issues.map((i) => i.path), ['proxies[1].certFile', 'proxies[2].certFile']);
      assert.match(e.issues[0]!.message, /covers elsewhere\.example\.com, not shop\.example\.com/);
      assert.match(e.issues[1]!.message, /missing\.pem does not exist/);
      return true;
    });
  });

  it('serves a certificate written to the store after refresh()', async (t) => {
    const dir = join(await tempDir(t), 'certs');
    const { certs, store } = manager(t, dir);
    certs.activate(await certs.prepare(buildRouteTable(validateConfig({ proxies: [{ domain: 'app.example.com', target: '10.0.0.5', ssl: true }] }))));
    const port = await serve(t, certs);
    const before = await peerCertificate(port, 'app.example.com');
    const renewed = await makeSelfSigned(['app.example.com'], { clock: systemClock, validityDays: 30 });
    await store.write('app.example.com', { ...renewed, meta: { source: 'self-signed' } });
    assert.equal((await peerCertificate(port, 'app.example.com')).fingerprint256, before.fingerprint256, 'not before refresh');
    assert.equal(await certs.refresh(), 1);
    const after = await peerCertificate(port, 'app.example.com');
    assert.equal(after.fingerprint256, new X509Certificate(renewed.certPem).fingerprint256);
    assert.equal(await certs.refresh(), 0);
  });

  it('serves a certificate another process stored, without refresh() or restart (watch)', async (t) => {
    const dir = join(await tempDir(t), 'certs');
    const missing: string[] = [];
    const { certs } = manager(t, dir, { onMissingManaged: (m) => missing.push(`${m.name}: ${m.reason}`) });
    const config = validateConfig({ acme: { agreeTos: true }, proxies: [{ domain: 'secure.example.com', target: '10.0.0.5', ssl: true, certSource: 'letsencrypt' }] });
    certs.activate(await certs.prepare(buildRouteTable(config)));
    certs.watch();
    const port = await serve(t, certs);
    assert.deepEqual(missing, ['secure.example.com: no certificate stored']);
    const fallback = await peerCertificate(port, 'secure.example.com');
    assert.equal(fallback.subjectaltname, 'DNS:secure.example.com');
    assert.notEqual(fallback.issuer.CN, ca.cn);
    assert.equal(certs.servedCertificates()[0]!.fallback, true);

    // Stands in for `idcs-edge --renew-ssl` or the ACME issuer: a separate process writing to the store.
    const issued = await makeLeaf({ ca, names: ['secure.example.com'] });
    const code = `
      const { createCertStore } = await import(${JSON.stringify(resolve('src/tls/store.ts'))});
      const { storageFor } = await import(${JSON.stringify(resolve('src/storage/open.ts'))});
      const { silentLogger } = await import(${JSON.stringify(resolve('src/log.ts'))});
      const storage = storageFor({ certs: { dir: ${JSON.stringify(dir)} } }, silentLogger());
      const store = createCertStore({ storage, log: silentLogger(), clock: { now: () => new Date() } });
      await store.withLock('secure.example.com', () => store.write('secure.example.com',
        { certPem: process.env.CERT, keyPem: process.env.KEY, meta: { source: 'letsencrypt' } }));
      await storage.close();`;
    const child = spawn(NODE, ['--input-type=module', '-e', code], { stdio: 'inherit', env: { ...process.env, CERT: issued.chainPem, KEY: issued.keyPem } });
    t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
    assert.equal(await new Promise((r) => child.once('exit', r)), 0);

    await waitFor('the issued certificate to be served', async () =>
      (await peerCertificate(port, 'secure.example.com')).issuer.CN === ca.cn, 5_000);
    assert.deepEqual(await verifiedBy(port, 'secure.example.com', ca.certPem), { authorized: true, error: undefined });
    assert.equal(certs.servedCertificates()[0]!.fallback, false);
  });
});
