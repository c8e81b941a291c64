/**
 * Uploaded certificates (certSource: upload): the operator's own PEM files, checked the same way at start,
 * on reload and by --check-config. Every failure is a CertError EDGE_ERR_CERT_UPLOAD whose message names
 * the file and the problem, because this is what an operator reads when the edge refuses a config.
 * Synchronous: it runs while a config is validated, off the request path.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ProxyRule } from '../config/schema.ts';
import { CertError, ErrorCodes, type ConfigIssue } from '../errors.ts';
import { coversName, infoOf, splitPemCertificates, type CertInfo } from './certinfo.ts';

export interface UploadInput {
  /** The proxy's domain (`app.example.com` or `*.user1.example.com`). */
  readonly domain: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly now: Date;
}

export interface ValidUpload {
  /** The certificate blocks of certFile, leaf first (anything else in the file is dropped). */
  readonly certPem: string;
  readonly keyPem: string;
  readonly info: CertInfo;
}

function readPem(domain: string, file: string, what: 'certificate' | 'key'): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable (permission denied)'
      : code === 'EISDIR' ? 'is a directory' : `cannot be read (${code ?? (err as Error).message})`;
    throw new CertError(ErrorCodes.CERT_UPLOAD, domain, `${what} file ${file} ${why}`, { cause: err });
  }
}

const day = (d: Date | string) => new Date(d).toISOString().slice(0, 10);

/** Reads and checks an uploaded certificate and key; throws CertError EDGE_ERR_CERT_UPLOAD naming the problem. */
export function validateUpload(input: UploadInput): ValidUpload {
  const { domain, certFile, keyFile, now } = input;
  const fail = (message: string, cause?: unknown): never => {
    throw new CertError(ErrorCodes.CERT_UPLOAD, domain, message, cause === undefined ? undefined : { cause });
  };
  const certText = readPem(domain, certFile, 'certificate');
  const keyText = readPem(domain, keyFile, 'key');

  const blocks = splitPemCertificates(certText);
  if (blocks.length === 0) {
    fail(/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(certText)
      ? `certificate file ${certFile} holds a private key, not a certificate (are certFile and keyFile swapped?)`
      : `certificate file ${certFile} is not a PEM certificate (expected -----BEGIN CERTIFICATE-----)`);
  }
  const chain: X509Certificate[] = [];
  for (const [i, pem] of blocks.entries()) {
    try {
      chain.push(new X509Certificate(pem));
    } catch (err) {
      fail(`certificate file ${certFile} has an unreadable certificate (block ${i + 1}): ${(err as Error).message}`, err);
    }
  }

  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(keyText)) {
    fail(`key file ${keyFile} is not a PEM private key (expected a PEM "PRIVATE KEY" block)`);
  }
  let key: KeyObject | undefined;
  try {
    key = createPrivateKey(keyText);
  } catch (err) {
    // OpenSSL asks for a passphrase when the key is encrypted, whatever its PEM format; without one to give,
    // Node reports the prompt as cancelled.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_MISSING_PASSPHRASE' || code === 'ERR_OSSL_CRYPTO_INTERRUPTED_OR_CANCELLED') {
      fail(`key file ${keyFile} is encrypted with a passphrase; the edge needs an unencrypted PEM key`, err);
    }
    fail(`key file ${keyFile} is not a readable PEM private key: ${(err as Error).message}`, err);
  }

  const leaf = chain[0]!;
  if (!leaf.checkPrivateKey(key!)) {
    const later = chain.findIndex((c, i) => i > 0 && c.checkPrivateKey(key!));
    fail(later > 0
      ? `certificate file ${certFile} lists the chain before the server certificate: put the certificate that matches ${keyFile} first`
      : `the private key in ${keyFile} does not match the certificate in ${certFile}`);
  }

  const info = infoOf(leaf);
  if (!coversName(info.names, domain)) {
    const has = info.names.length ? info.names.join(', ') : `no DNS names (subject ${info.subjectCN ?? 'empty'})`;
    fail(domain.startsWith('*.')
      ? `the certificate in ${certFile} covers ${has}, not ${domain}: a wildcard proxy needs a wildcard certificate for ${domain}`
      : `the certificate in ${certFile} covers ${has}, not ${domain}`);
  }
  if (now.getTime() > Date.parse(info.notAfter)) {
    fail(`the certificate in ${certFile} expired on ${day(info.notAfter)} (${info.notAfter})`);
  }
  if (now.getTime() < Date.parse(info.notBefore)) {
    fail(`the certificate in ${certFile} is not valid yet: valid from ${day(info.notBefore)} (${info.notBefore})`);
  }
  return Object.freeze({ certPem: blocks.join('\n') + '\n', keyPem: keyText, info });
}

/**
 * The uploaded certificates of a config, checked as the edge checks them when it loads the config: one
 * issue per unusable upload, located at its proxy. `--check-config` and the workers' primary use this.
 */
export function uploadIssues(proxies: readonly ProxyRule[], now: Date): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  proxies.forEach((p, i) => {
    if (!p.enabled || !p.ssl || p.certSource !== 'upload') return;
    try {
      validateUpload({ domain: p.domain, certFile: p.certFile!, keyFile: p.keyFile!, now });
    } catch (e) {
      issues.push({ path: `proxies[${i}].certFile`, message: (e as Error).message });
    }
  });
  return issues;
}
