/**
 * The `self-signed` Issuer: leaf certificates signed by the edge's local CA (local-ca.ts), like Caddy's
 * `tls internal`, so that an operator trusts "the edge" once (`idcs-edge ca export`) instead of every
 * certificate. Leaves are short-lived (7 days by default) and renewed by the same job as every other
 * certificate. node-forge builds and signs; RSA keys come from node:crypto's async generateKeyPair, which
 * runs on the thread pool (forge's pure-JS keygen takes seconds and would block a serving edge).
 * `makeSelfSigned` still makes a certificate that is its own issuer (the tests' fixtures, nothing else).
 */
import { generateKeyPair, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';
import type { Clock } from '../clock.ts';
import { CertError, ErrorCodes } from '../errors.ts';
import type { IssuedCert, Issuer, IssueRequest } from './issuer.ts';
import type { LocalCa } from './local-ca.ts';

/** Store name and SAN of the certificate served when no route matches the SNI name (RFC 6761 .invalid). */
export const DEFAULT_CERT_NAME = 'default';
export const DEFAULT_CERT_HOST = 'idcs-edge.invalid';

/** How long a leaf of the local CA lives unless told otherwise. */
export const LOCAL_LEAF_DAYS = 7;

const generateKeyPairAsync = promisify(generateKeyPair);
const DAY_MS = 86_400_000;

export interface SelfSignedOptions {
  readonly clock: Clock;
  /** Validity from the clock's now (fractions allowed, tests use short ones). */
  readonly validityDays?: number;
  /** RSA modulus length (default 2048). */
  readonly keyBits?: number;
}

/** A positive, non-zero 128-bit serial (RFC 5280 4.1.2.2: at most 20 octets, positive). */
export function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01;
  return b.toString('hex');
}

/** A fresh RSA key pair as PEM (SPKI public, PKCS#8 private). */
export function rsaKeyPair(bits = 2048): Promise<{ publicKey: string; privateKey: string }> {
  return generateKeyPairAsync('rsa', {
    modulusLength: bits,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
}

/** Builds and signs a server certificate for `names` (wildcards allowed); CN is the first name. */
async function makeLeaf(names: readonly string[], opts: { readonly clock: Clock; readonly validityDays?: number | undefined;
  readonly keyBits?: number | undefined; readonly ca?: LocalCa | undefined }, defaultDays: number): Promise<IssuedCert> {
  if (names.length === 0) throw new Error('a certificate needs at least one name');
  const { publicKey, privateKey } = await rsaKeyPair(opts.keyBits);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey);
  cert.serialNumber = randomSerial();
  const now = opts.clock.now().getTime();
  cert.validity.notBefore = new Date(now);
  let notAfter = now + (opts.validityDays ?? defaultDays) * DAY_MS;
  // A leaf never outlives its CA: a client would reject the chain from then on.
  if (opts.ca) notAfter = Math.min(notAfter, Date.parse(opts.ca.notAfter));
  cert.validity.notAfter = new Date(notAfter);
  // CN is limited to 64 characters (RFC 5280 ub-common-name); clients match on the SAN anyway.
  const attrs: forge.pki.CertificateField[] = [{ shortName: 'O', value: opts.ca ? 'idcs-edge local CA' : 'idcs-edge self-signed' }];
  if (names[0]!.length <= 64) attrs.unshift({ shortName: 'CN', value: names[0]! });
  cert.setSubject(attrs);
  const caCert = opts.ca ? forge.pki.certificateFromPem(opts.ca.certPem) : null;
  cert.setIssuer(caCert ? caCert.subject.attributes : attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: names.map((value) => ({ type: 2, value })) },
    { name: 'subjectKeyIdentifier' },
    ...(caCert ? [{ name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() }] : []),
  ]);
  const signer = opts.ca ? opts.ca.keyPem : privateKey;
  cert.sign(forge.pki.privateKeyFromPem(signer) as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: privateKey };
}

/** A certificate that is its own issuer (365 days unless told otherwise). */
export function makeSelfSigned(names: readonly string[], opts: SelfSignedOptions): Promise<IssuedCert> {
  return makeLeaf(names, opts, 365);
}

/**
 * The Issuer for certSource `self-signed`: leaves signed by the local CA that `ca()` returns (made on first
 * use). Without `ca`, certificates are their own issuer (what versions before the local CA made).
 */
export function createSelfSignedIssuer(opts: SelfSignedOptions & { readonly ca?: () => Promise<LocalCa> }): Issuer {
  return Object.freeze({
    source: 'self-signed' as const,
    async issue(req: IssueRequest, signal?: AbortSignal): Promise<IssuedCert> {
      signal?.throwIfAborted();
      try {
        const ca = opts.ca ? await opts.ca() : undefined;
        const leafOpts = { clock: opts.clock, validityDays: opts.validityDays, keyBits: opts.keyBits, ca };
        const issued = await makeLeaf(req.names, leafOpts, ca ? LOCAL_LEAF_DAYS : 365);
        signal?.throwIfAborted();
        return issued;
      } catch (err) {
        if (signal?.aborted) throw err;
        throw new CertError(ErrorCodes.ISSUE_FAILED, req.name, `cannot make a self-signed certificate for ${req.name}: ${(err as Error).message}`, { cause: err });
      }
    },
  });
}
