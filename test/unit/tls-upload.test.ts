import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { chmod } from 'node:fs/promises';
import { before, describe, it } from 'node:test';
import { CertError, ErrorCodes } from '../../src/errors.ts';
import { validateUpload } from '../../src/tls/upload.ts';
import { makeCa, makeLeaf, writeTemp, type TestCa, type TestLeaf } from '../helpers/certs.ts';

const DAY = 86_400_000;
const now = new Date();

describe('validateUpload', () => {
  let ca: TestCa;
  let app: TestLeaf;
  let wild: TestLeaf;
  let other: TestLeaf;
  let expired: TestLeaf;
  let future: TestLeaf;
  before(async () => {
    ca = await makeCa();
    [app, wild, other, expired, future] = await Promise.all([
      makeLeaf({ ca, names: ['app.example.com', 'www.example.com'] }),
      makeLeaf({ ca, names: ['*.user1.example.com'] }),
      makeLeaf({ ca, names: ['other.example.com'] }),
      makeLeaf({ ca, names: ['app.example.com'], notBefore: new Date(Date.now() - 100 * DAY), notAfter: new Date(Date.now() - 10 * DAY) }),
      makeLeaf({ ca, names: ['app.example.com'], notBefore: new Date(Date.now() + 10 * DAY), notAfter: new Date(Date.now() + 100 * DAY) }),
    ]);
  });

  const rejects = (fn: () => unknown, message: RegExp) => {
    assert.throws(fn, (err: unknown) => {
      assert.ok(err instanceof CertError, `expected a CertError, got ${String(err)}`);
      assert.equal(err.code, ErrorCodes.CERT_UPLOAD);
      assert.match(err.message, message);
      return true;
    });
  };

  it('accepts a matching certificate with its chain and reports what it covers', async (t) => {
    const f = await writeTemp(t, { 'c.pem': app.chainPem, 'k.pem': app.keyPem });
    const up = validateUpload({ domain: 'www.example.com', certFile: f.path('c.pem'), keyFile: f.path('k.pem'), now });
    assert.deepEqual(up.info.names, ['app.example.com', 'www.example.com']);
    assert.equal(up.info.subjectCN, 'app.example.com');
    assert.match(up.info.issuer, new RegExp(`CN=${ca.cn}`));
    assert.equal((up.certPem.match(/BEGIN CERTIFICATE/g) ?? []).length, 2);
    assert.equal(up.keyPem, app.keyPem);
  });

  it('accepts a wildcard certificate for the same wildcard proxy domain', async (t) => {
    const f = await writeTemp(t, { 'c.pem': wild.certPem, 'k.pem': wild.keyPem });
    const up = validateUpload({ domain: '*.user1.example.com', certFile: f.path('c.pem'), keyFile: f.path('k.pem'), now });
    assert.deepEqual(up.info.names, ['*.user1.example.com']);
  });

  it('names a missing certificate file', async (t) => {
    const f = await writeTemp(t, { 'k.pem': app.keyPem });
    rejects(() => validateUpload({ domain: 'app.example.com', certFile: f.path('nope.pem'), keyFile: f.path('k.pem'), now }),
      /^certificate file .*nope\.pem does not exist$/);
  });

  it('names a missing key file', async (t) => {
    const f = await writeTemp(t, { 'c.pem': app.certPem });
    rejects(() => validateUpload({ domain: 'app.example.com', certFile: f.path('c.pem'), keyFile: f.path('gone.key'), now }),
      /^key file .*gone\.key does not exist$/);
  });

  it('names an unreadable file', { skip: process.getuid?.() === 0 ? 'root reads everything' : false }, async (t) => {
    const f = await writeTemp(t, { 'c.pem': app.certPem, 'k.pem': app.keyPem });
    await chmod(f.path('k.pem'), 0o000);
    rejects(() => validateUpload({ domain: 'app.example.com', certFile: f.path('c.pem'), keyFile: f.path('k.pem'), now }),
      /key file .*k\.pem is not readable \(permission denied\)/);
  });

  it('names a directory given as a file', async (t) => {
    const f = await writeTemp(t, { 'k.pem': app.keyPem });
    rejects(() => validateUpload({ domain: 'app.example.com', certFile: f.dir, keyFile: f.path('k.pem'), now }),
      /^certificate file .* is a directory$/);
  });

  it('says when the certificate file is not PEM', async (t) => {
    const f = await writeTemp(t, { 'c.pem': 'hello, I am not a certificate\n', 'k.pem': app.keyPem });
    rejects(() => validateUpload({ domain: 'app.example.com', certFile: f.path('c.pem'), keyFile: f.path('k.pem'), now }),
      /certificate file .*c\.pem is not a PEM certificate \(expected -----BEGIN CERTIFICATE-----\)/);
  });

  it('spots swapped certificate and key files', async (t) => {
    const f = await writeTemp(t, { 'c.pem': app.certPem, 'k.pem': app.keyPem });
    rejects(() => validateUpload({ domain: 'app.example.com', certFile: f.path('k.pem'), keyFile: f.path('c.pem'), now }),
      /holds a private key, not a certificate \(are certFile and keyFile swapped\?\)/);
  });

  it('says when the key file is not a PEM key', async (t) => {
    const f = await writeTemp(t, { 'c.pem': app.certPem, 'k.pem': 'garbage' });
    rejects(() => validateUpload({ domain: 'app.example.com', certFile: f.path('c.pem'), keyFile: f.path('k.pem'), now }),
      /key file .*k\.pem is not a PEM private key/);
  });

  it('refuses a passphrase-protected key, in PKCS#8 and in the traditional PEM format', async (t) => {
    // Real encrypted keys, made now (AES-256).
    const pkcs8 = createPrivateKey(app.keyPem).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }).toString();
    const traditional = createPrivateKey(app.keyPem).export({ type: 'pkcs1', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }).toString();
    assert.match(traditional, /Proc-Type: 4,ENCRYPTED/);
    for (const encrypted of [pkcs8, traditional]) {
      const f = await writeTemp(t, { 'c.pem': app.certPem, 'k.pem': encrypted });
      rejects(() => validateUpload({ domain: 'app.example.com', certFile: f.path('c.pem'), keyFile: f.path('k.pem'), now }),
        /is encrypted with a passphrase/);
    }
  });

  it('says when the key does not match the certificate', async (t) => {
    const f = await writeTemp(t, { 'c.pem': app.certPem, 'k.pem': other.keyPem });
    rejects(() => validateUpload({ domain: 'app.example.com', certFile: f.path('c.pem'), keyFile: f.path('k.pem'), now }),
      /^the private key in .*k\.pem does not match the certificate in .*c\.pem$/);
  });

  it('says when the chain comes before the leaf', async (t) => {
    const f = await writeTemp(t, { 'c.pem': ca.certPem + app.certPem, 'k.pem': app.keyPem });
    rejects(() => validateUpload({ domain: 'app.example.com', certFile: f.path('c.pem'), keyFile: f.path('k.pem'), now }),
      /lists the chain before the server certificate/);
  });

  it('says which names the certificate covers when it misses the domain', async (t) => {
    const f = await writeTemp(t, { 'c.pem': app.certPem, 'k.pem': app.keyPem });
    rejects(() => validateUpload({ domain: 'shop.example.com', certFile: f.path('c.pem'), keyFile: f.path('k.pem'), now }),
      /covers app\.example\.com, www\.example\.com, not shop\.example\.com$/);
  });

  it('needs a wildcard certificate for a wildcard proxy domain', async (t) => {
    const f = await writeTemp(t, { 'c.pem': app.certPem, 'k.pem': app.keyPem });
    rejects(() => validateUpload({ domain: '*.example.com', certFile: f.path('c.pem'), keyFile: f.path('k.pem'), now }),
      /not \*\.example\.com: a wildcard proxy needs a wildcard certificate for \*\.example\.com/);
  });

  it('does not let a wildcard cover a deeper wildcard', async (t) => {
    const f = await writeTemp(t, { 'c.pem': wild.certPem, 'k.pem': wild.keyPem });
    rejects(() => validateUpload({ domain: '*.vm.user1.example.com', certFile: f.path('c.pem'), keyFile: f.path('k.pem'), now }),
      /covers \*\.user1\.example\.com, not \*\.vm\.user1\.example\.com/);
  });

  it('says when the certificate has expired', async (t) => {
    const f = await writeTemp(t, { 'c.pem': expired.certPem, 'k.pem': expired.keyPem });
    rejects(() => validateUpload({ domain: 'app.example.com', certFile: f.path('c.pem'), keyFile: f.path('k.pem'), now }),
      /the certificate in .*c\.pem expired on \d{4}-\d\d-\d\d/);
  });

  it('says when the certificate is not valid yet', async (t) => {
    const f = await writeTemp(t, { 'c.pem': future.certPem, 'k.pem': future.keyPem });
    rejects(() => validateUpload({ domain: 'app.example.com', certFile: f.path('c.pem'), keyFile: f.path('k.pem'), now }),
      /is not valid yet: valid from \d{4}-\d\d-\d\d/);
  });
});
