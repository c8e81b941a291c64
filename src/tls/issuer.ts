/**
 * The contracts of the certificate layer: what a stored certificate looks like, the store that keeps them,
 * and the Issuer that makes new ones. Self-signed (node-forge) and ACME (acme-client) are both Issuers;
 * uploads are not issued, only validated and read.
 */
import type { CertSource } from '../config/schema.ts';

/** What the store keeps next to each certificate (certs/<name>/meta.json). */
export interface CertMeta {
  /** The certificate's name in the store: `app.example.com` or `*.user1.example.com`. */
  readonly name: string;
  readonly source: CertSource;
  /** Subject alternative names (DNS) the certificate covers. */
  readonly names: readonly string[];
  readonly notBefore: string;
  readonly notAfter: string;
  readonly issuer: string;
  readonly fingerprint256: string;
  /** When this copy was written. */
  readonly storedAt: string;
  /** The last failed attempt to issue or renew, kept until one succeeds. */
  readonly lastError?: { readonly at: string; readonly code: string; readonly message: string; readonly problemType?: string };
  /** Backoff: no automatic attempt before this time. */
  readonly nextAttemptAt?: string;
  readonly failures?: number;
}

export interface StoredCert {
  /** Leaf first, then any chain. */
  readonly certPem: string;
  readonly keyPem: string;
  readonly meta: CertMeta;
}

export interface IssueRequest {
  /** Store name (`*.user1.example.com` for a wildcard). */
  readonly name: string;
  /** DNS names to put in the certificate; the first is the subject. */
  readonly names: readonly string[];
}

export interface IssuedCert {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface Issuer {
  readonly source: CertSource;
  issue(req: IssueRequest, signal?: AbortSignal): Promise<IssuedCert>;
}
