/**
 * The start-up summary a person at a terminal gets once the edge is up: where it listens, the admin
 * listener and its dashboard, and one row per proxy with its certificate's state. PURE: facts in, lines
 * out (cli.ts prints them, only when stdout shows readable log lines: see log.ts stdoutFormat).
 */
import type { CertView } from './admin/views.ts';
import type { EdgeConfig } from './config/schema.ts';

export interface StartupFacts {
  readonly version: string;
  readonly pid: number;
  /** Worker processes (1: a single process). */
  readonly workers: number;
  readonly configFile: string;
  readonly config: EdgeConfig;
  readonly listeners: { readonly host: string; readonly http: number | null; readonly https: number | null };
  readonly admin: { readonly url: string; readonly tokenFile: string } | null;
  /** Every certificate the config needs (admin/views.ts certificateViews). */
  readonly certificates: readonly CertView[];
  readonly now: Date;
}

const DAY_MS = 86_400_000;

/** Rows padded to columns, two spaces apart (the last column is not padded). */
export function columns(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

function certState(v: CertView | undefined, now: Date): string {
  if (v === undefined) return '-';
  const c = v.certificate;
  if (c === null) return v.source === 'letsencrypt' ? 'waiting for the CA (a self-signed stand-in serves)' : 'missing';
  if (v.source === 'letsencrypt' && c.source !== 'letsencrypt') return 'waiting for the CA (a self-signed stand-in serves)';
  const days = Math.floor((Date.parse(c.notAfter) - now.getTime()) / DAY_MS);
  const left = days < 0 ? 'EXPIRED' : days === 0 ? 'expires today' : `${days} day${days === 1 ? '' : 's'} left`;
  const what = v.source === 'self-signed' ? 'local CA' : v.source === 'upload' ? 'uploaded' : 'Let\'s Encrypt';
  return `${what}, ${left}${v.lastError ? `; last renewal failed: ${v.lastError.code}` : ''}`;
}

/** The lines of the summary. */
export function startupSummary(f: StartupFacts): string[] {
  const c = f.config;
  const host = f.listeners.host;
  const lines = [`idcs-edge ${f.version} is up (pid ${f.pid}${f.workers > 1 ? `, ${f.workers} workers` : ''})`];
  if (f.listeners.http !== null) lines.push(`  http    ${host}:${f.listeners.http}`);
  if (f.listeners.https !== null) lines.push(`  https   ${host}:${f.listeners.https}  (HTTP/2 and HTTP/1.1)`);
  if (f.admin) lines.push(`  admin   ${f.admin.url}/  dashboard, API and /metrics; the token is in ${f.admin.tokenFile}`);
  lines.push(`  config  ${f.configFile} (saved changes apply at once)`);
  lines.push(`  log     ${c.log.file ?? 'stdout only'}${c.log.file ? ' (JSON lines)' : ''}`);
  if (c.demo.enabled) lines.push(`  demo    a built-in demo VM on 127.0.0.1:${c.demo.port} (demo.enabled: true)`);
  lines.push('');
  if (c.proxies.length === 0) {
    lines.push('  no proxies configured yet: add one to the config file (README "Config reference")');
    return lines;
  }
  const byDomain = new Map(f.certificates.map((v) => [v.domain, v]));
  const rows: string[][] = [['DOMAIN', 'TARGET', 'SERVES', 'CERTIFICATE']];
  const tls = f.listeners.https !== null;
  for (const p of c.proxies) {
    const port = p.targetPort ?? (p.protocol === 'https' ? 443 : 80);
    const target = p.owner !== undefined ? `VMs of ${p.owner} (${c.vms.filter((v) => v.owner === p.owner).length})` : `${p.protocol}://${p.target}:${port}`;
    const serves = !p.enabled ? 'disabled' : p.ssl && tls ? `https${p.http2 ? ' h2' : ''}${p.websocket ? ' ws' : ''}` : `http${p.websocket ? ' ws' : ''}`;
    rows.push([p.domain, target, serves, p.ssl && p.enabled ? certState(byDomain.get(p.domain), f.now) : '-']);
  }
  lines.push(...columns(rows).map((l) => `  ${l}`));
  const first = c.proxies.find((p) => p.enabled && !p.domain.startsWith('*.'));
  if (first) {
    const ssl = first.ssl && tls;
    const port = ssl ? f.listeners.https! : f.listeners.http;
    if (port !== null) {
      lines.push('', `  try: curl${ssl ? ' -k' : ''} --resolve ${first.domain}:${port}:127.0.0.1 ${ssl ? 'https' : 'http'}://${first.domain}:${port}/`);
    }
  }
  return lines;
}
