/**
 * What the admin API reports about proxies and certificates, derived from the running config's route table
 * and the certificate store (the same store every process of the edge serves from, so the primary of a
 * workers group answers as a single edge does). The renewal dates come from the renewal policy.
 */
import { readFileSync } from 'node:fs';
import type { CertSource, EdgeConfig } from '../config/schema.ts';
import { renewalDecision } from '../renewal/policy.ts';
import { buildRouteTable, type CertTarget } from '../routing/table.ts';
import { coversAll, parseCertPem } from '../tls/certinfo.ts';
import type { CertMeta } from '../tls/issuer.ts';
import type { CertStore } from '../tls/store.ts';

/**
 * `serving`: the edge serves it as configured; `waiting-for-certificate`: a Let's Encrypt name is served a
 * self-signed stand-in until the CA's certificate is stored; `disabled`: `enabled: false`, answered 404;
 * `not-applied`: in the file but not in the running config (an edit by hand that was refused).
 */
export type ProxyStatus = 'serving' | 'waiting-for-certificate' | 'disabled' | 'not-applied';

export interface CertView {
  readonly name: string;
  readonly names: readonly string[];
  /** The source the config asks for. */
  readonly source: CertSource;
  /** The proxy that needs it. */
  readonly domain: string;
  /** What is stored (or uploaded), null when nothing that fits is. */
  readonly certificate: { readonly source: CertSource; readonly notBefore: string; readonly notAfter: string;
    readonly issuer: string; readonly fingerprint256: string } | null;
  /** When the renewal rule renews it (null: uploads, which are not renewed, and missing certificates, due now). */
  readonly nextRenewalAt: string | null;
  readonly renewalReason: string;
  readonly lastError: CertMeta['lastError'] | null;
  /** No automatic retry before this time (after a failure). */
  readonly nextAttemptAt: string | null;
}

interface StoreFacts {
  readonly metas: ReadonlyMap<string, CertMeta>;
  readonly failures: ReadonlyMap<string, { lastError: NonNullable<CertMeta['lastError']>; nextAttemptAt: string }>;
}

async function factsOf(store: CertStore): Promise<StoreFacts> {
  const [metas, failures] = await Promise.all([store.list(), store.failures()]);
  return { metas: new Map(metas.map((m) => [m.name, m])), failures: new Map(failures.map((f) => [f.name, f])) };
}

/** The stored certificate that serves `t` as configured, or null (a stand-in, other names, none). */
function fitting(t: CertTarget, facts: StoreFacts): CertMeta | null {
  const m = facts.metas.get(t.name);
  return m && m.source === t.source && coversAll(m.names, t.names) ? m : null;
}

/** Status of every proxy of the running config, by domain. */
export async function proxyStatuses(running: EdgeConfig | null, store: CertStore): Promise<Map<string, ProxyStatus>> {
  const out = new Map<string, ProxyStatus>();
  if (running === null) return out;
  const table = buildRouteTable(running);
  const needsCa = table.certTargets.filter((t) => t.source === 'letsencrypt');
  const facts = needsCa.length ? await factsOf(store) : null;
  const waiting = new Set(needsCa.filter((t) => fitting(t, facts!) === null).map((t) => t.index));
  running.proxies.forEach((p, i) => out.set(p.domain, !p.enabled ? 'disabled' : waiting.has(i) ? 'waiting-for-certificate' : 'serving'));
  return out;
}

/** The status of one proxy of the file, given the running statuses. */
export function proxyStatusOf(domain: string, statuses: ReadonlyMap<string, ProxyStatus>): ProxyStatus {
  return statuses.get(domain) ?? 'not-applied';
}

function uploaded(t: CertTarget): CertView['certificate'] {
  try {
    const info = parseCertPem(readFileSync(t.certFile ?? '', 'utf8'));
    return { source: 'upload', notBefore: info.notBefore, notAfter: info.notAfter, issuer: info.issuer, fingerprint256: info.fingerprint256 };
  } catch {
    return null;
  }
}

/** Every certificate the running config needs, with what is stored, when it renews, and its last error. */
export async function certificateViews(running: EdgeConfig | null, store: CertStore, now: Date): Promise<CertView[]> {
  if (running === null) return [];
  const table = buildRouteTable(running);
  const facts = await factsOf(store);
  return table.certTargets.map((t) => {
    const m = t.source === 'upload' ? null : fitting(t, facts);
    const certificate = t.source === 'upload' ? uploaded(t)
      : m && { source: m.source, notBefore: m.notBefore, notAfter: m.notAfter, issuer: m.issuer, fingerprint256: m.fingerprint256 };
    const decision = renewalDecision(certificate, now, { renewWithinDays: running.renewal.renewWithinDays });
    const failure = facts.failures.get(t.name) ?? null;
    return {
      name: t.name, names: t.names, source: t.source, domain: running.proxies[t.index]!.domain, certificate,
      nextRenewalAt: t.source === 'upload' || decision.renewAt === null ? null : decision.renewAt.toISOString(),
      renewalReason: t.source === 'upload' ? `${decision.reason} (uploaded: replace the files to renew)` : decision.reason,
      lastError: failure?.lastError ?? null,
      nextAttemptAt: failure?.nextAttemptAt ?? null,
    };
  });
}

/** The expiry of every certificate the running config serves (the `idcs_edge_cert_expiry_timestamp_seconds` gauge). */
export async function certificateExpiries(running: EdgeConfig | null, store: CertStore, now: Date): Promise<Array<{ name: string; source: string; notAfter: string }>> {
  return (await certificateViews(running, store, now))
    .flatMap((v) => (v.certificate ? [{ name: v.name, source: v.certificate.source, notAfter: v.certificate.notAfter }] : []));
}
