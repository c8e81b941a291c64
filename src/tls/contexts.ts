/**
 * The SNI side: which SecureContext a TLS handshake gets. Every context is built when a config is prepared
 * or the store changes, never during a handshake; the handshake does one host normalisation and at most two
 * map reads (exact, then the one-label wildcard), falling back to the `default` certificate.
 * Ciphers are Node's defaults. Session tickets are encrypted with the listening server's key (OpenSSL keeps
 * the initial SSL_CTX as the session context), so resumption works across SNI contexts; tickets.ts rotates it.
 */
import { createHash } from 'node:crypto';
import tls, { type SecureContext } from 'node:tls';
import type { Clock } from '../clock.ts';
import type { CertSource } from '../config/schema.ts';
import { CertError, ConfigError, ErrorCodes, type ConfigIssue } from '../errors.ts';
import type { Logger } from '../log.ts';
import { lookupExactThenWildcard, normalizeHost } from '../routing/host.ts';
import type { CertTarget, RouteTable } from '../routing/table.ts';
import { coversAll } from './certinfo.ts';
import type { Issuer, StoredCert } from './issuer.ts';
import { DEFAULT_CERT_HOST, DEFAULT_CERT_NAME } from './selfsigned.ts';
import type { CertStore } from './store.ts';
import { validateUpload } from './upload.ts';
import { createCertSources } from './cert-sources.ts';

/** One certificate the index serves, and the route domains that select it. */
export interface ServedCert {
  readonly name: string;
  readonly source: CertSource;
  readonly names: readonly string[];
  readonly notAfter: string;
  readonly fingerprint256: string;
  /** Route domains served with it (`*.a.b` for a wildcard route); empty for the default certificate. */
  readonly domains: readonly string[];
  /** A self-signed stand-in for a Let's Encrypt certificate that is not issued yet. */
  readonly fallback: boolean;
}

interface IndexedCert extends ServedCert {
  readonly context: SecureContext;
  /** Re-read from the store by refresh(); uploads come from the config's files and change on reload. */
  readonly fromStore: boolean;
  /** The names a replacement must cover, and the source the route asked for (null: the default). */
  readonly wanted: readonly string[];
  readonly routeSource: CertSource | null;
}

/** An immutable snapshot: built by prepare() or refresh(), swapped whole by activate(). */
export interface CertIndex {
  readonly exact: ReadonlyMap<string, SecureContext>;
  /** Keyed by the part after `*.`. */
  readonly wildcard: ReadonlyMap<string, SecureContext>;
  readonly default: SecureContext;
  readonly certs: readonly IndexedCert[];
  /** letsencrypt names served by a stand-in; reported to onMissingManaged when the index is activated. */
  readonly missing: readonly MissingManaged[];
}

/** Called, on activate(), for each letsencrypt name that has no issued certificate yet (the ACME issuer hooks in here). */
export interface MissingManaged { readonly name: string; readonly names: readonly string[]; readonly reason: string }
export type MissingManagedHook = (target: MissingManaged) => void;

export interface CertManagerOptions {
  readonly store: CertStore;
  readonly log: Logger;
  readonly clock: Clock;
  readonly selfSigned: Issuer;
  readonly onMissingManaged?: MissingManagedHook;
}

export interface CertManager {
  /** Loads or creates every certificate the table's ssl routes need; upload problems throw one ConfigError. */
  prepare(table: RouteTable): Promise<CertIndex>;
  activate(index: CertIndex): void;
  /** tls.Server SNICallback (a plain function: safe to pass unbound). */
  sniCallback(servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void;
  /** Throws before the first activate(). */
  defaultSecureContext(): SecureContext;
  /** The default certificate's PEMs, for the listener's base options. */
  defaultCertificate(): Promise<{ certPem: string; keyPem: string }>;
  servedCertificates(): readonly ServedCert[];
  /** Re-reads store-backed certificates and swaps in those whose fingerprint changed; resolves to how many. */
  refresh(): Promise<number>;
  /** Refreshes whenever the store reports a change (another process renewed). */
  watch(): void;
  close(): Promise<void>;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** Builds the manager; nothing is read until prepare(). */
export function createCertManager(opts: CertManagerOptions): CertManager {
  const { store, log, clock, selfSigned } = opts;
  // Keyed by a hash of the certificate chain: a key always matches its certificate, so the chain decides.
  let contexts = new Map<string, SecureContext>();
  let active: CertIndex | null = null;
  let watcher: { close(): void } | null = null;
  let refreshing: Promise<number> = Promise.resolve(0);

  const contextFor = (certPem: string, keyPem: string): SecureContext => {
    const k = sha256(certPem);
    let ctx = contexts.get(k);
    if (!ctx) {
      ctx = tls.createSecureContext({ cert: certPem, key: keyPem, minVersion: 'TLSv1.2' });
      contexts.set(k, ctx);
    }
    return ctx;
  };

  const indexed = (s: StoredCert, route: { domains: readonly string[]; wanted: readonly string[]; routeSource: CertSource | null }): IndexedCert => {
    return Object.freeze({ name: s.meta.name, source: s.meta.source, names: s.meta.names, notAfter: s.meta.notAfter,
      fingerprint256: s.meta.fingerprint256, domains: route.domains, wanted: route.wanted, routeSource: route.routeSource, fallback: route.routeSource === 'letsencrypt' && s.meta.source !== 'letsencrypt',
      fromStore: true, context: contextFor(s.certPem, s.keyPem) });
  };

  const sources = createCertSources({ store, selfSigned, clock, log });

  const forTarget = async (target: CertTarget, missing: MissingManaged[]): Promise<IndexedCert> => {
    const { name, names } = target;
    const want = { domains: names, wanted: names, routeSource: target.source };
    if (target.source === 'upload') {
      const up = validateUpload({ domain: name, certFile: target.certFile!, keyFile: target.keyFile!, now: clock.now() });
      return Object.freeze({ name, source: 'upload' as const, names: up.info.names, notAfter: up.info.notAfter,
        fingerprint256: up.info.fingerprint256, ...want, fallback: false, fromStore: false,
        context: contextFor(up.certPem, up.keyPem) });
    }
    if (target.source === 'self-signed') return indexed(await sources.selfSigned(name, names), want);
    // letsencrypt: an issued certificate that covers the names is served even when expired (renewal's job);
    // otherwise a self-signed stand-in keeps TLS up until the issuer stores one (refresh() picks it up).
    const stored = await store.read(name);
    if (stored && stored.meta.source === 'letsencrypt' && coversAll(stored.meta.names, names)) return indexed(stored, want);
    const reason = stored ? `stored certificate is ${stored.meta.source === 'letsencrypt' ? 'for other names' : 'a self-signed stand-in'}` : 'no certificate stored';
    missing.push({ name, names, reason });
    return indexed(await sources.standIn(name, names), want);
  };

  const build = (certs: readonly IndexedCert[], def: IndexedCert, missing: readonly MissingManaged[]): CertIndex => {
    const exact = new Map<string, SecureContext>();
    const wildcard = new Map<string, SecureContext>();
    for (const c of certs) {
      for (const d of c.domains) {
        if (d.startsWith('*.')) wildcard.set(d.slice(2), c.context);
        else exact.set(d, c.context);
      }
    }
    return Object.freeze({ exact, wildcard, default: def.context, certs: Object.freeze([...certs, def]), missing: Object.freeze([...missing]) });
  };

  const prepare = async (table: RouteTable): Promise<CertIndex> => {
    const targets = table.certTargets;
    const missing: MissingManaged[] = [];
    const results: Array<IndexedCert | null> = [];
    const issues: ConfigIssue[] = [];
    // A few at a time: self-signed key generation runs on the thread pool, so routes overlap usefully.
    let next = 0;
    const worker = async () => {
      while (next < targets.length) {
        const i = next++;
        const target = targets[i]!;
        try {
          results[i] = await forTarget(target, missing);
        } catch (err) {
          if (!(err instanceof CertError) || err.code !== ErrorCodes.CERT_UPLOAD) throw err;
          results[i] = null;
          issues.push({ path: `proxies[${target.index}].certFile`, message: err.message });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, targets.length) }, worker));
    const wanted = new Set(targets.map((t) => t.name));
    sources.keepStandIns(wanted);
    if (issues.length) {
      issues.sort((a, b) => a.path.localeCompare(b.path, 'en', { numeric: true }));
      throw new ConfigError(ErrorCodes.CONFIG_INVALID,
        `invalid config:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`, { issues });
    }
    const def = indexed(await sources.selfSigned(DEFAULT_CERT_NAME, [DEFAULT_CERT_HOST]),
      { domains: [], wanted: [DEFAULT_CERT_HOST], routeSource: null });
    return build(results.filter((r): r is IndexedCert => r !== null), def, missing);
  };

  const activate = (index: CertIndex): void => {
    active = index;
    // Contexts no longer served are dropped so that replaced keys do not stay in memory.
    const keep = new Set(index.certs.map((c) => c.context));
    contexts = new Map([...contexts].filter(([, ctx]) => keep.has(ctx)));
    // Only an activated index asks for certificates: a prepared one may belong to a config that is refused.
    for (const m of index.missing) opts.onMissingManaged?.(m);
  };

  const sniCallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    const idx = active;
    if (idx === null) { cb(null); return; }
    const host = normalizeHost(servername);
    cb(null, (host === null ? undefined : lookupExactThenWildcard(host, idx.exact, idx.wildcard)) ?? idx.default);
  };

  const refreshOnce = async (): Promise<number> => {
    const idx = active;
    if (idx === null) return 0;
    let changed = 0;
    const certs: IndexedCert[] = [];
    for (const c of idx.certs) {
      const s = c.fromStore ? await store.read(c.name) : null;
      if (s && s.meta.fingerprint256 !== c.fingerprint256 && coversAll(s.meta.names, c.wanted)) {
        certs.push(indexed(s, c));
        log.info({ name: c.name, source: s.meta.source, notAfter: s.meta.notAfter }, 'certificate reloaded from the store');
        changed++;
      } else {
        certs.push(c);
      }
    }
    // A reload that activated a newer index meanwhile wins: it read the store itself.
    // A refresh only swaps certificates in: it asks for nothing new.
    if (changed && active === idx) activate(build(certs.slice(0, -1), certs[certs.length - 1]!, []));
    return changed;
  };

  const refresh = (): Promise<number> => {
    refreshing = refreshing.then(refreshOnce, refreshOnce).catch((err: Error) => {
      log.error({ err: err.message, code: (err as CertError).code }, 'certificate refresh failed: the current certificates keep serving');
      return 0;
    });
    return refreshing;
  };

  return {
    prepare,
    activate,
    sniCallback,
    defaultSecureContext() {
      if (active === null) throw new Error('no certificate index is active yet (call prepare and activate first)');
      return active.default;
    },
    async defaultCertificate() {
      const s = await sources.selfSigned(DEFAULT_CERT_NAME, [DEFAULT_CERT_HOST]);
      return { certPem: s.certPem, keyPem: s.keyPem };
    },
    servedCertificates: () => (active?.certs ?? []).map(({ context: _c, fromStore: _f, wanted: _w, routeSource: _r, ...served }) => Object.freeze(served)),
    refresh,
    watch() {
      watcher ??= store.watch(() => { void refresh(); });
    },
    async close() {
      watcher?.close();
      watcher = null;
      await refreshing;
    },
  };
}
