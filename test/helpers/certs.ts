/**
 * Throwaway certificates made at test time (no key is ever committed): a CA, leaves signed by it or
 * self-signed, with any names and validity, written to a temp dir that is removed after the test.
 */
import { generateKeyPair, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import forge from 'node-forge';

const genKeyPair = promisify(generateKeyPair);
const DAY = 86_400_000;

export interface TestCa {
  readonly certPem: string;
  readonly keyPem: string;
  readonly cn: string;
}

export interface TestLeaf {
  readonly certPem: string;
  readonly keyPem: string;
  /** Leaf then CA (what an operator uploads as a "fullchain"). */
  readonly chainPem: string;
}

type Ctx = { after(fn: () => unknown): void };

async function rsaKey(): Promise<{ publicKey: string; privateKey: string }> {
  return genKeyPair('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
}

function serial(): string {
  const b = randomBytes(12);
  b[0] = (b[0]! & 0x7f) | 0x01;
  return b.toString('hex');
}

/** A CA certificate (10 years around now) whose key signs leaves. */
export async function makeCa(opts: { cn?: string } = {}): Promise<TestCa> {
  const cn = opts.cn ?? `idcs-edge test CA ${randomBytes(3).toString('hex')}`;
  const k = await rsaKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(k.publicKey);
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(Date.now() - DAY);
  cert.validity.notAfter = new Date(Date.now() + 3650 * DAY);
  const attrs = [{ shortName: 'CN', value: cn }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(k.privateKey) as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: k.privateKey, cn };
}

/**
 * A server certificate for `names` (DNS SANs; CN is the first), signed by `ca` or self-signed without one.
 * Default validity: from a day ago to 90 days ahead.
 */
export async function makeLeaf(opts: { ca?: TestCa; names: readonly string[]; notBefore?: Date; notAfter?: Date; cn?: string }): Promise<TestLeaf> {
  const k = await rsaKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(k.publicKey);
  cert.serialNumber = serial();
  cert.validity.notBefore = opts.notBefore ?? new Date(Date.now() - DAY);
  cert.validity.notAfter = opts.notAfter ?? new Date(Date.now() + 90 * DAY);
  cert.setSubject([{ shortName: 'CN', value: opts.cn ?? opts.names[0] ?? 'no-name' }]);
  cert.setIssuer(opts.ca ? forge.pki.certificateFromPem(opts.ca.certPem).subject.attributes : cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: true },
    ...(opts.names.length ? [{ name: 'subjectAltName', altNames: opts.names.map((value) => ({ type: 2, value })) }] : []),
  ]);
  const signer = opts.ca ? opts.ca.keyPem : k.privateKey;
  cert.sign(forge.pki.privateKeyFromPem(signer) as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  const certPem = forge.pki.certificateToPem(cert);
  return { certPem, keyPem: k.privateKey, chainPem: opts.ca ? certPem + opts.ca.certPem : certPem };
}

/** A fresh temp dir, removed after the test. */
export async function tempDir(t: Ctx, prefix = 'edge-certs-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `files` (name -> content) into a fresh temp dir; `path(name)` gives a file's absolute path. */
export async function writeTemp(t: Ctx, files: Record<string, string>): Promise<{ dir: string; path(name: string): string }> {
  const dir = await tempDir(t);
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content, { mode: 0o600 });
  return { dir, path: (name) => join(dir, name) };
}
