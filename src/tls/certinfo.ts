/**
 * What a certificate says about itself, read with node:crypto's X509Certificate (no OpenSSL CLI, no forge on
 * this path). Used by the store (meta.json is derived from the certificate, never trusted from the caller),
 * by upload validation and by the SNI index.
 */
import { X509Certificate } from 'node:crypto';
import { wildcardNameFor } from '../routing/host.ts';

export interface CertInfo {
  /** DNS subject alternative names, lower case, in certificate order. */
  readonly names: readonly string[];
  readonly subjectCN: string | null;
  /** The issuer's distinguished name on one line (`CN=R11, O=Let's Encrypt, C=US`). */
  readonly issuer: string;
  readonly notBefore: string;
  readonly notAfter: string;
  /** SHA-256 of the leaf's DER, `AB:CD:...` as node prints it. */
  readonly fingerprint256: string;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate block in a PEM text, in file order (leaf first for a well-formed chain). */
export function splitPemCertificates(pem: string): string[] {
  return pem.match(PEM_CERT) ?? [];
}

/**
 * Splits node's `subjectAltName` string (`DNS:a.example, DNS:"odd,name", IP Address:1.2.3.4`) into DNS names.
 * Since node 17.3.1 values with special characters are JSON-quoted, so a comma inside quotes is not a separator.
 */
export function dnsNamesOf(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  const names: string[] = [];
  const re = /DNS:("(?:[^"\\]|\\.)*"|[^,]*)(?:,\s*|$)/g;
  for (const m of subjectAltName.matchAll(re)) {
    const raw = m[1]!.startsWith('"') ? (JSON.parse(m[1]!) as string) : m[1]!;
    const name = raw.trim().toLowerCase();
    if (name) names.push(name);
  }
  return names;
}

function cnOf(dn: string): string | null {
  for (const line of dn.split('\n')) {
    if (line.startsWith('CN=')) return line.slice(3);
  }
  return null;
}

/** Reads the leaf (first certificate) of a PEM text. Throws node's error when it is not a certificate. */
export function parseCertPem(pem: string): CertInfo {
  return infoOf(new X509Certificate(pem));
}

/** The same facts from an already parsed certificate. */
export function infoOf(x: X509Certificate): CertInfo {
  return Object.freeze({
    names: Object.freeze(dnsNamesOf(x.subjectAltName)),
    subjectCN: cnOf(x.subject),
    issuer: x.issuer.split('\n').join(', '),
    notBefore: x.validFromDate.toISOString(),
    notAfter: x.validToDate.toISOString(),
    fingerprint256: x.fingerprint256,
  });
}

/**
 * true when one of `names` covers `host`: equal, or a wildcard `*.<parent>` whose parent is the host's parent
 * (one label only, RFC 6125 6.4.3). A wildcard host such as `*.a.b` is covered only by the same wildcard.
 */
export function coversName(names: readonly string[], host: string): boolean {
  const h = host.toLowerCase();
  const wildcard = h.startsWith('*.') ? null : wildcardNameFor(h);
  return names.includes(h) || (wildcard !== null && names.includes(wildcard));
}

/** true when the certificate's names cover every name in `wanted`. */
export function coversAll(names: readonly string[], wanted: readonly string[]): boolean {
  return wanted.every((w) => coversName(names, w));
}
