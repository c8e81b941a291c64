/**
 * The `idcs-edge` command: argument parsing, exit codes and human-readable output. The only file that
 * writes to the console. Exit codes: 0 success, 1 a runtime failure (a certificate not renewed, a port
 * that cannot be bound), 2 bad usage or invalid config.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createChallengeResponder, serveChallengesStandalone } from './acme/challenges.ts';
import { importCsv, type ImportKind } from './admin/import.ts';
import { defaultAcmeConfig } from './acme/config.ts';
import { createAcmeIssuer } from './acme/issuer.ts';
import { systemClock } from './clock.ts';
import { checkConfig, configWarnings } from './config/check.ts';
import { issueLine } from './config/explain.ts';
import { loadConfigFile } from './config/load.ts';
import type { EdgeConfig } from './config/schema.ts';
import { ConfigError, EdgeError, ErrorCodes } from './errors.ts';
import { forwardId, portText } from './l4/config.ts';
import { createLogger, stdoutFormat } from './log.ts';
import { hashPassword } from './policy/password.ts';
import { runPrimary, workerCount } from './cluster/primary.ts';
import type { FleetOutcome } from './fleet/edges.ts';
import { effectiveConfig, exportRules, importRules } from './fleet/transfer.ts';
import { runWorker } from './cluster/worker.ts';
import { startEdge, type Edge } from './main.ts';
import { runUntilStopped, STOP_MARGIN_MS } from './signals.ts';
import { renewAll, renewalTargets, type RenewResult } from './renewal/renew.ts';
import { buildRouteTable } from './routing/table.ts';
import { columns as pad, startupSummary, type StartupFacts } from './summary.ts';
import { monthTraffic } from './stats/report.ts';
import { openStorage } from './storage/open.ts';
import type { RenewalFailure } from './tls/failures.ts';
import type { CertMeta } from './tls/issuer.ts';
import { localCa } from './tls/local-ca.ts';
import { createSelfSignedIssuer } from './tls/selfsigned.ts';
import { createCertStore } from './tls/store.ts';

const HELP = `idcs-edge: reverse proxy and TLS edge for VMs

Usage:
  idcs-edge [--config FILE]                  run the edge (default config: config/edge.yaml)
  idcs-edge --check-config [--config FILE]   validate the config and print the proxies; exit 0 or 2
  idcs-edge --renew-ssl [--force] [--domain NAME] [--dry-run] [--config FILE]
                                             renew certificates that are due (all with --force)
  idcs-edge certs [--config FILE]            list certificates: domain, source, expiry, days left
  idcs-edge ca export [--config FILE]        print the local CA that signs self-signed certificates
                                             (stdout), and how to trust it (stderr)
  idcs-edge import proxies FILE.csv [--dry-run] [--config FILE]
                                             import proxies from CSV, all rows or none (through the
                                             running edge's admin API, else into the config file)
  idcs-edge traffic [--config FILE]          traffic per VM this month (UTC): bytes in, out, total
  idcs-edge import forwards FILE.csv [--dry-run] [--config FILE]
                                             import port forwards from CSV (protocol,host_port,vm_ip,
                                             vm_port,note), all rows or none, the same way
  idcs-edge hash-password                    read a password from stdin (or ask for it on a terminal,
                                             without echo) and print its hash for auth.users[].hash
  idcs-edge config export [FILE] [--config FILE]
                                             write the fleet's rules (the fleet document in Redis, or
                                             the rules of an edge file) as YAML, or JSON for FILE.json;
                                             stdout without FILE
  idcs-edge config import FILE [--dry-run] [--config FILE]
                                             replace the fleet document with FILE (YAML or JSON), all
                                             or nothing, validated as an admin API write
  idcs-edge --help | --version

Options:
  -c, --config FILE   config file, YAML or JSON (default: $IDCS_EDGE_CONFIG, else config/edge.yaml)
      --force         with --renew-ssl: renew every managed certificate, due or not
      --domain NAME   with --renew-ssl: only this certificate (e.g. app.example.com or *.user1.example.com)
      --dry-run       with --renew-ssl: print what would be renewed and why; change nothing
                      with import: validate the CSV and the resulting config; change nothing
                      with config import: validate the document with this edge's file; change nothing

Environment: IDCS_EDGE_CONFIG (the config file without --config); IDCS_EDGE_HTTP_PORT, IDCS_EDGE_HTTPS_PORT,
  IDCS_EDGE_ADMIN_LISTEN override listen.http, listen.https and admin.listen of the config.
Signals (running edge): SIGHUP reloads the config; SIGTERM/SIGINT/SIGQUIT drain and exit 0 (a second one
  exits at once, 1); SIGUSR2 reopens the log file (logrotate); SIGUSR1 and the rest are ignored.
Exit codes: 0 ok, 1 runtime failure, 2 usage or config error. Docs: README.md.
`;

const VERSION = (): string => (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

type Out = (s: string) => void;
const out: Out = (s) => process.stdout.write(`${s}\n`);
const err: Out = (s) => process.stderr.write(`${s}\n`);

function describeConfig(file: string, c: EdgeConfig): string[] {
  const lines = [`config OK: ${file}`,
    `listen: http ${c.listen.http || 'off'}, https ${c.listen.https || 'off'} on ${c.listen.host}; certs in ${c.certs.dir}; log ${c.log.file ?? 'stdout only'} (${c.log.level})`];
  if (c.demo.enabled) lines.push(`demo VM: on, 127.0.0.1:${c.demo.port}`);
  const rows = [['DOMAIN', 'TARGET', 'PROTOCOL', 'SSL', 'CERT', 'WS', 'NOTE']];
  for (const p of c.proxies) {
    const port = p.targetPort ?? (p.protocol === 'https' ? 443 : 80);
    const target = p.owner !== undefined
      ? `VMs of ${p.owner} (${c.vms.filter((v) => v.owner === p.owner).length})`
      : `${p.target}:${port}`;
    rows.push([p.domain + (p.enabled ? '' : ' (disabled)'), target, p.protocol, p.ssl ? 'yes' : 'no',
      p.ssl ? p.certSource : '-', p.websocket ? 'yes' : 'no', p.note ?? '']);
  }
  lines.push(...(c.proxies.length ? pad(rows) : ['no proxies configured']));
  if (c.forwards.length) {
    const fwd = [['FORWARD', 'LISTEN', 'TARGET', 'NOTE']];
    for (const f of c.forwards) {
      const to = f.targetPort ? portText(f.targetPort) : portText(f.port);
      fwd.push([forwardId(f), f.listen ?? c.listen.host, `${f.target ?? `VM ${f.vm!.owner}/${f.vm!.name}`}:${to}`, f.note ?? '']);
    }
    lines.push(...pad(fwd));
  }
  return lines;
}

function fmtDate(iso: string | null | undefined): string {
  return iso ? iso.slice(0, 16).replace('T', ' ') : '-';
}

function renewLines(results: readonly RenewResult[]): string[] {
  const rows = [['DOMAIN', 'SOURCE', 'EXPIRES (BEFORE)', 'EXPIRES (AFTER)', 'ACTION', 'REASON']];
  for (const r of results) {
    // "after" only means something when a new certificate was stored.
    rows.push([r.name, r.source, fmtDate(r.before), r.action === 'renewed' ? fmtDate(r.after) : '-', r.action,
      r.error ? `${r.reason}: ${r.error.code} ${r.error.message}` : r.reason]);
  }
  return results.length ? pad(rows) : ['no certificates to consider (no proxy has ssl: true)'];
}

async function renewCommand(configFile: string, host: EdgeConfig, flags: { force: boolean; domain?: string; dryRun: boolean }): Promise<number> {
  const { log, close } = createLogger({ level: host.log.level, file: host.log.file, stdout: false });
  let storage;
  let c: EdgeConfig;
  try {
    // A fleet edge's certificates are those of the fleet document.
    c = (await effectiveConfig(configFile, host, log)).config;
    storage = await openStorage(c, log);
  } catch (e) {
    await close();
    throw e;
  }
  try {
    const store = createCertStore({ storage, log, clock: systemClock });
    const targets = renewalTargets(buildRouteTable(c));
    if (flags.domain && !targets.some((t) => t.name === flags.domain!.toLowerCase())) {
      err(`no certificate named ${flags.domain} in the config (names: ${targets.map((t) => t.name).join(', ') || 'none'})`);
      return 2;
    }
    const wantsAcme = targets.some((t) => t.source === 'letsencrypt');
    const acme = wantsAcme ? createAcmeIssuer({ config: c.acme ?? defaultAcmeConfig, storage, log, clock: systemClock }) : null;
    // HTTP-01 tokens go to the shared storage. A running edge holds the HTTP port and answers them from
    // there; when none runs, this process answers on that port itself.
    const standalone = acme && !flags.dryRun && c.listen.http !== 0
      ? await serveChallengesStandalone({ port: c.listen.http, host: c.listen.host, responder: createChallengeResponder(storage), log })
      : null;
    try {
      const results = await renewAll(
        { store, issuers: { 'self-signed': createSelfSignedIssuer({ clock: systemClock, ca: localCa({ storage, clock: systemClock, log }) }),
          ...(acme ? { letsencrypt: acme } : {}) }, log, clock: systemClock },
        targets,
        { force: flags.force, dryRun: flags.dryRun, renewWithinDays: c.renewal.renewWithinDays, lockWaitMs: c.renewal.lockWaitMs, ...(flags.domain ? { domain: flags.domain.toLowerCase() } : {}) },
      );
      for (const l of renewLines(results)) out(l);
      return results.some((r) => r.action === 'failed') ? 1 : 0;
    } finally {
      await standalone?.close();
      acme?.close();
    }
  } finally {
    await storage.close();
    await close();
  }
}

/** Stored certificates, then names that have only a failed attempt (no certificate yet). */
async function certsCommand(c: EdgeConfig): Promise<number> {
  const log = createLogger({ level: 'silent', file: null, stdout: false }).log;
  const storage = await openStorage(c, log);
  try {
    const store = createCertStore({ storage, log, clock: systemClock });
    const metas = await store.list();
    const failures = new Map((await store.failures()).map((f) => [f.name, f]));
    if (metas.length === 0 && failures.size === 0) {
      out(`no certificates in ${storage.describe()}`);
      return 0;
    }
    const now = Date.now();
    const lastError = (e: CertMeta['lastError']) => (e ? `${fmtDate(e.at)} ${e.code}: ${e.message}` : '');
    // The backoff: how many attempts failed in a row and when the next automatic one may run.
    const backoff = (f: RenewalFailure | undefined) => (f ? ` (${f.failures} failed, next attempt ${fmtDate(f.nextAttemptAt)})` : '');
    const rows = [['DOMAIN', 'SOURCE', 'EXPIRES', 'DAYS LEFT', 'LAST ERROR']];
    for (const m of metas) {
      const days = Math.floor((Date.parse(m.notAfter) - now) / 86_400_000);
      // A set whose files do not belong together (corrupted, a write cut by a crash) is not served.
      const torn = (await store.read(m.name)) === null ? 'stored files do not match (corrupted or cut write): not served' : '';
      // meta.json's own fields are what the previous version recorded.
      const f = failures.get(m.name);
      rows.push([m.name, m.source, fmtDate(m.notAfter), String(days),
        [torn, lastError(f?.lastError ?? m.lastError) + backoff(f)].filter(Boolean).join('; ')]);
      failures.delete(m.name);
    }
    for (const f of failures.values()) rows.push([f.name, f.source, '-', '-', `${lastError(f.lastError)}${backoff(f)} (no certificate yet)`]);
    for (const l of pad(rows)) out(l);
    return 0;
  } finally {
    await storage.close();
  }
}

/** `ca export`: the local CA's certificate on stdout (made now if the edge has none yet), how to trust it on stderr. */
async function caExportCommand(c: EdgeConfig): Promise<number> {
  const log = createLogger({ level: 'silent', file: null, stdout: false }).log;
  const storage = await openStorage(c, log);
  try {
    const ca = await localCa({ storage, clock: systemClock, log })();
    out(ca.certPem.trimEnd());
    err(`The local CA of this edge (${storage.describe()}), valid until ${fmtDate(ca.notAfter)}, SHA-256 ${ca.fingerprint256}.
It signs every certSource: self-signed certificate. Save it (idcs-edge ca export > idcs-edge-ca.pem) and trust it once:
  Debian/Ubuntu:  sudo cp idcs-edge-ca.pem /usr/local/share/ca-certificates/idcs-edge-ca.crt && sudo update-ca-certificates
  Fedora/RHEL:    sudo cp idcs-edge-ca.pem /etc/pki/ca-trust/source/anchors/ && sudo update-ca-trust
  macOS:          sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain idcs-edge-ca.pem
  Windows:        certutil -addstore -f ROOT idcs-edge-ca.pem
  Firefox:        Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import
  curl / Node:    curl --cacert idcs-edge-ca.pem ...   NODE_EXTRA_CA_CERTS=idcs-edge-ca.pem node ...
Only trust it on machines of people who may see the sites the edge serves: anyone with the edge's store can sign with it.`);
    return 0;
  } finally {
    await storage.close();
  }
}

async function importCommand(kind: ImportKind, configFile: string, csvFile: string, dryRun: boolean): Promise<number> {
  const r = await importCsv(kind, configFile, csvFile, { dryRun });
  if (!r.ok) {
    err(`${r.code}: ${csvFile} was not imported, nothing changed:`);
    for (const i of r.issues) {
      err('column' in i && i.line !== null ? `  line ${i.line}${i.column ? `, column ${i.column}` : ''}: ${i.message}` : `  ${i.path ?? csvFile}: ${i.message}`);
    }
    return 2;
  }
  const { rows, added, replaced } = r.detail;
  const via = r.via === 'api' ? `through the running edge at ${r.where}`
    : `into ${r.where} (no edge answered on admin.listen: the ${r.via === 'redis' ? 'fleet document' : 'file'} was edited)`;
  out(r.dryRun ? `${rows} rows valid (${added} would be added, ${replaced} replaced); nothing changed`
    : `imported ${rows} ${kind} (${added} added, ${replaced} replaced) ${via}`);
  return 0;
}

/** `config export [FILE]` or `config import FILE`. */
function configUsageOk(p: readonly string[]): boolean {
  return (p[1] === 'export' && (p.length === 2 || p.length === 3)) || (p[1] === 'import' && p.length === 3);
}

function fleetLines(f: FleetOutcome | null): string[] {
  if (!f) return [];
  return [
    ...(f.applied.length ? [`  applied by: ${f.applied.join(', ')}`] : []),
    ...f.refused.map((r) => `  REFUSED by ${r.edge}: ${r.code} ${r.message.split('\n')[0]}`),
    ...(f.pending.length ? [`  not yet reported by: ${f.pending.join(', ')}`] : []),
  ];
}

async function configCommand(p: readonly string[], configFile: string, dryRun: boolean): Promise<number> {
  const config = loadConfigFile(configFile);
  const { log, close } = createLogger({ level: 'silent', file: null, stdout: false });
  try {
    if (p[1] === 'export') {
      const r = await exportRules(configFile, config, p[2], log);
      if (p[2] === undefined) process.stdout.write(r.text);
      else {
        writeFileSync(p[2], r.text);
        err(`wrote ${r.version === null ? `the rules of ${r.where}` : `fleet document version ${r.version} from ${r.where}`} to ${p[2]}`);
      }
      return 0;
    }
    const r = await importRules(configFile, config, p[2]!, { dryRun }, log);
    if (!r.ok) {
      err(`${r.code}: ${p[2]} was not imported, nothing changed:`);
      for (const i of r.issues) err(`  ${i.path}: ${i.message}`);
      return 2;
    }
    if (r.dryRun) {
      out(`${p[2]} is a valid fleet document for ${configFile}; nothing changed`);
      return 0;
    }
    out(`imported ${p[2]} as fleet document version ${r.version ?? '?'} ${r.via === 'api' ? `through the running edge at ${r.where}` : `into ${r.where} (no edge answered on admin.listen)`}`);
    for (const l of fleetLines(r.fleet)) out(l);
    return r.fleet?.refused.length ? 1 : 0;
  } finally {
    await close();
  }
}

/** 1536 -> "1.5 KiB". */
function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

async function trafficCommand(configFile: string): Promise<number> {
  const r = await monthTraffic(configFile, systemClock);
  out(`traffic per VM in ${r.month} (UTC), ${r.via === 'api' ? `from the running edge at ${r.where}` : `from ${r.where} (no edge answered on admin.listen)`}`);
  if (r.vms.length === 0) {
    out('no VMs in the inventory and no VM traffic this month');
    return 0;
  }
  const rows = [['VM', 'IN', 'OUT', 'TOTAL', 'TOTAL BYTES']];
  for (const v of r.vms) rows.push([v.vm, humanBytes(v.in), humanBytes(v.out), humanBytes(v.in + v.out), String(v.in + v.out)]);
  for (const l of pad(rows)) out(l);
  return 0;
}

/** The single-process edge: its logger, signals and exit are this process's (workers: cluster/). */
async function runSingle(configFile: string, config: EdgeConfig): Promise<number> {
  const logs = createLogger({ level: config.log.level, file: config.log.file, format: config.log.format });
  let edge: Edge | null = null;
  const starting = startEdge({ configFile, config, log: logs.log });
  const run = runUntilStopped({
    log: () => logs.log,
    reload: () => { void edge?.reload('signal'); },
    reopenLogs: () => logs.reopen(),
    flushLogsSync: () => logs.flushSync(),
    deadlineMs: () => (edge?.config() ?? config).shutdown.graceMs + STOP_MARGIN_MS,
    async drain() {
      // A signal during start-up stops the edge once it is up (a failed start has nothing to drain).
      await (await starting.catch(() => null))?.close();
      await logs.close();
    },
  });
  try {
    edge = await starting;
  } catch (e) {
    await logs.close();
    throw e;
  }
  if (stdoutFormat(config.log.format) === 'pretty') {
    const up = edge;
    printSummary({ pid: process.pid, workers: 1, configFile: resolve(configFile), config: up.config(),
      listeners: { host: up.config().listen.host, http: up.httpPort, https: up.httpsPort }, admin: up.admin,
      certificates: await up.certificates().catch(() => []), now: new Date() });
  }
  return run.exited;
}

/** The start-up summary, for a person at a terminal (see summary.ts). */
function printSummary(facts: Omit<StartupFacts, 'version'>): void {
  for (const l of startupSummary({ ...facts, version: VERSION() })) out(l);
}

/**
 * `hash-password`: the password from stdin (all of it, one trailing newline dropped), or typed on a
 * terminal without echo; the hash alone on one line of stdout, so `$(idcs-edge hash-password)` works.
 */
async function hashPasswordCommand(): Promise<number> {
  const password = process.stdin.isTTY ? await promptHidden('password: ') : (await readStdin()).replace(/\r?\n$/, '');
  if (password === '') { err('no password given (an empty password is not accepted)'); return 2; }
  out(await hashPassword(password));
  return 0;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads one line from the terminal in raw mode, echoing nothing; the prompt goes to stderr. */
function promptHidden(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const input = process.stdin;
    process.stderr.write(prompt);
    input.setRawMode(true);
    input.setEncoding('utf8');
    let text = '';
    const done = (fn: () => void) => {
      input.setRawMode(false);
      input.pause();
      input.off('data', onData);
      process.stderr.write('\n');
      fn();
    };
    const onData = (s: string) => {
      for (const ch of s) {
        if (ch === '\r' || ch === '\n') return done(() => resolve(text));
        if (ch === '\u0003') return done(() => reject(new EdgeError(ErrorCodes.USAGE, 'interrupted')));
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1);
        else text += ch;
      }
    };
    input.on('data', onData);
    input.resume();
  });
}

async function runCommand(configFile: string): Promise<number> {
  if (process.env.IDCS_EDGE_WORKER === '1') return runWorker();
  const config = loadConfigFile(configFile);
  if (workerCount(config) > 1) return runPrimary(configFile, stdoutFormat(config.log.format) === 'pretty' ? { onReady: printSummary } : {});
  return runSingle(configFile, config);
}

/** node:util parseArgs's complaint in one short clause: `unknown option --foo`, `--config needs a value`. */
function parseProblem(e: Error & { code?: string }): string {
  const option = /'([^']+)'/.exec(e.message)?.[1] ?? '';
  const name = option.split(/,\s*/).pop()!.split(' ')[0]!;
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown option ${name}`;
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    return /argument missing/.test(e.message) ? `${name} needs a value` : `${name} takes no value`;
  }
  return e.message.split('. ')[0]!;
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c', default: process.env.IDCS_EDGE_CONFIG || 'config/edge.yaml' },
        'check-config': { type: 'boolean', default: false },
        'renew-ssl': { type: 'boolean', default: false },
        force: { type: 'boolean', default: false },
        'dry-run': { type: 'boolean', default: false },
        domain: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', short: 'v', default: false },
      },
    });
  } catch (e) {
    err(`idcs-edge: ${parseProblem(e as Error & { code?: string })} (see idcs-edge --help)`);
    return 2;
  }
  const v = parsed.values;
  const command = parsed.positionals[0];
  if (v.help) { out(HELP); return 0; }
  if (v.version) {
    out(VERSION());
    return 0;
  }
  const isImport = command === 'import';
  const isCa = command === 'ca';
  const isHash = command === 'hash-password';
  const isConfig = command === 'config';
  if (isConfig ? !configUsageOk(parsed.positionals) : isImport ? parsed.positionals.length !== 3 || !['proxies', 'forwards'].includes(parsed.positionals[1]!)
    : isCa ? parsed.positionals.length !== 2 || parsed.positionals[1] !== 'export'
      : parsed.positionals.length > 1 || (command !== undefined && command !== 'certs' && command !== 'traffic' && !isHash)) {
    err(isConfig ? 'usage: idcs-edge config export [FILE] [--config FILE] | idcs-edge config import FILE [--dry-run] [--config FILE]'
      : isImport ? 'usage: idcs-edge import proxies|forwards FILE.csv [--dry-run] [--config FILE]'
      : isCa ? 'usage: idcs-edge ca export [--config FILE]' : `unknown command: ${parsed.positionals.join(' ')} (try --help)`);
    return 2;
  }
  const modes = [v['check-config'], v['renew-ssl'], command === 'certs', command === 'traffic', isImport, isCa, isHash, isConfig].filter(Boolean).length;
  if (modes > 1) { err('choose one of --check-config, --renew-ssl, certs, traffic, import, ca export, hash-password, config'); return 2; }
  const dryRunOk = isImport || (isConfig && parsed.positionals[1] === 'import');
  if (!v['renew-ssl'] && (v.force || (v['dry-run'] && !dryRunOk) || v.domain)) {
    err('--force and --domain go with --renew-ssl; --dry-run with --renew-ssl, import or config import');
    return 2;
  }
  const configFile = v.config!;
  try {
    if (v['check-config']) {
      const silent = createLogger({ level: 'silent', file: null, stdout: false }).log;
      // A fleet edge is checked with the fleet document it would start on.
      const { config: c, version } = await effectiveConfig(configFile, loadConfigFile(configFile), silent);
      // The files the config names are checked as the edge checks them when it applies the config.
      const problems = checkConfig(c, systemClock.now());
      if (problems.length) {
        err(`invalid config in ${configFile}:\n${problems.map(issueLine).join('\n')}`);
        return 2;
      }
      for (const l of describeConfig(configFile, c)) out(l);
      if (version !== null) out(`rules: fleet document version ${version} (config.source: redis)`);
      for (const w of configWarnings(c)) err(`warning:${issueLine(w).slice(1)}`);
      return 0;
    }
    if (v['renew-ssl']) {
      return await renewCommand(configFile, loadConfigFile(configFile), { force: v.force!, dryRun: v['dry-run']!, ...(v.domain ? { domain: v.domain } : {}) });
    }
    if (command === 'certs') return await certsCommand(loadConfigFile(configFile));
    if (isCa) return await caExportCommand(loadConfigFile(configFile));
    if (command === 'traffic') return await trafficCommand(configFile);
    if (isImport) return await importCommand(parsed.positionals[1] as ImportKind, configFile, parsed.positionals[2]!, v['dry-run']!);
    if (isHash) return await hashPasswordCommand();
    if (isConfig) return await configCommand(parsed.positionals, configFile, v['dry-run']!);
    return await runCommand(configFile);
  } catch (e) {
    if (e instanceof ConfigError) {
      err(e.message);
      return 2;
    }
    if (e instanceof EdgeError) {
      err(`${e.code}: ${e.message}`);
      return e.code === ErrorCodes.USAGE ? 2 : 1;
    }
    err(`unexpected error: ${(e as Error)?.stack ?? String(e)}`);
    return 1;
  }
}

/**
 * Ends the process with `code` once stdout and stderr took what was written: every command, the running
 * edge included, has closed what it opened by then, and nothing left behind (a timer in a library) may keep
 * a stopped edge alive.
 */
export function exitWith(code: number): void {
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

// Run when executed directly (`node src/cli.ts`, or through bin/idcs-edge.js).
if (process.argv[1] && import.meta.filename === (await import('node:fs')).realpathSync(process.argv[1])) {
  exitWith(await main(process.argv.slice(2)));
}
