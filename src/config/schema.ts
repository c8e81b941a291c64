/**
 * The one place every config key is declared. The inferred types are what the rest of the code uses.
 * Unknown keys are errors (a typo must not silently do nothing), and every message names its path.
 */
import { isIP } from 'node:net';
import cron from 'node-cron';
import { z } from 'zod';
import { acmeConfigSchema, acmeRequirementIssues } from '../acme/config.ts';
import { adminConfigSchema, adminIssues } from '../admin/config.ts';
import { alertsConfigSchema } from '../alerts/config.ts';
import { configSourceIssues, configSourceSchema } from '../fleet/config.ts';
import { forwardIssues, forwardSchema } from '../l4/config.ts';
import { parseCidrOrNull } from '../policy/cidr.ts';
import { accessSchema, authSchema, bandwidthSchema } from '../policy/config.ts';
import { hstsSchema } from '../proxy/hsts.ts';
import { isValidHostname } from '../routing/host.ts';
import { storageConfigSchema, storageIssues } from '../storage/config.ts';

export { parseCidrOrNull };

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const RESERVED_NAMES = new Set(['default', 'acme']);

const port = (what: string) => z.number({ error: `expected a ${what} port number 1-65535` })
  .int({ error: 'expected 1-65535' }).min(1, { error: 'expected 1-65535' }).max(65535, { error: 'expected 1-65535' });

const listenPort = z.number({ error: 'expected a port number 0-65535 (0 disables the listener)' })
  .int({ error: 'expected 0-65535' }).min(0, { error: 'expected 0-65535' }).max(65535, { error: 'expected 0-65535' });

/** A duration in milliseconds within [min, max]. */
const ms = (what: string, min: number, max: number) => z.number({ error: `expected ${what} as a number of milliseconds` })
  .int({ error: 'expected a whole number of milliseconds' })
  .min(min, { error: `expected at least ${min} ms` }).max(max, { error: `expected at most ${max} ms` });

/** A connection count; 0 turns the limit off. */
const count = (what: string) => z.number({ error: `expected ${what} as a number of connections (0: no limit)` })
  .int({ error: 'expected a whole number' }).min(0, { error: 'expected 0 (no limit) or more' }).max(10_000_000, { error: 'expected at most 10000000' });

export const domain = z.string({ error: 'expected a domain name such as app.example.com or *.user1.example.com' })
  .transform((s) => s.trim().toLowerCase().replace(/\.$/, ''))
  .refine((s) => {
    const rest = s.startsWith('*.') ? s.slice(2) : s;
    return !rest.includes('*') && isValidHostname(rest) && (s.startsWith('*.') ? rest.includes('.') : true);
  }, { error: 'expected a domain name such as app.example.com, or a wildcard "*.<domain>" whose * is the whole first label' })
  // The certificate store keeps the default certificate and the ACME account in folders with these names.
  .refine((s) => !RESERVED_NAMES.has(s), { error: 'the names "default" and "acme" are reserved by the certificate store' });

const target = z.string({ error: 'expected the VM address: an IP such as 10.0.0.5 or a host name' })
  .trim()
  .refine((s) => isIP(s) !== 0 || isValidHostname(s.toLowerCase()), { error: 'expected an IP address or host name (no scheme, no port: use targetPort)' });

const cidr = z.string().refine((s) => parseCidrOrNull(s) !== null, { error: 'expected an IP address or CIDR such as 10.0.0.0/8 or ::1/128' });

const vmName = z.string({ error: 'expected the VM name' }).trim().min(1, { error: 'expected a non-empty VM name' })
  .transform((s) => s.toLowerCase());

export const vmSchema = z.strictObject({
  name: vmName,
  owner: z.string({ error: 'expected the owner (user) of the VM' }).trim().min(1, { error: 'expected a non-empty owner' })
    .transform((s) => s.toLowerCase()),
  ip: target,
  port: port('VM').optional(),
  note: z.string().optional(),
  /** Applies to everything that reaches this VM through the edge: proxies and forwards. */
  access: accessSchema.optional(),
  /** Shared by every connection to this VM through the edge. */
  bandwidth: bandwidthSchema.optional(),
});

export const upstreamTlsSchema = z.strictObject({
  /** Accept any certificate from the VM. Off by default: verification failures are a 502 that says so. */
  insecureSkipVerify: z.boolean().default(false),
  /** PEM file of the CA(s) that signed the VM's certificate, added to the system roots. */
  caFile: z.string().min(1).optional(),
  /** The name to verify the VM's certificate against (and send as SNI); default: the client's Host (its name, without the port). */
  serverName: z.string().min(1).optional(),
});

export const certSources = ['self-signed', 'upload', 'letsencrypt'] as const;

export const proxySchema = z.strictObject({
  domain,
  target: target.optional(),
  owner: z.string().trim().min(1, { error: 'expected a non-empty owner' }).transform((s) => s.toLowerCase()).optional(),
  targetPort: port('target').optional(),
  protocol: z.enum(['http', 'https'], { error: 'expected "http" or "https" (how the edge talks to the VM)' }).default('http'),
  ssl: z.boolean({ error: 'expected true or false' }).default(false),
  certSource: z.enum(certSources, { error: 'expected one of: self-signed, upload, letsencrypt' }).default('self-signed'),
  certFile: z.string().min(1).optional(),
  keyFile: z.string().min(1).optional(),
  websocket: z.boolean({ error: 'expected true or false' }).default(true),
  note: z.string().optional(),
  upstreamTls: upstreamTlsSchema.optional(),
  /** This proxy's own error pages: status (400-599) -> HTML file, with {{status}} {{code}} {{requestId}} {{message}}. */
  errorPages: z.record(
    z.string().regex(/^[45]\d\d$/, { error: 'expected an HTTP status 400-599 as the key, e.g. "502"' }),
    z.string({ error: 'expected the path of an HTML file' }).min(1, { error: 'expected the path of an HTML file' }),
  ).optional(),
  enabled: z.boolean({ error: 'expected true or false' }).default(true),
  access: accessSchema.optional(),
  auth: authSchema.optional(),
  bandwidth: bandwidthSchema.optional(),
  /** Offer HTTP/2 (ALPN h2) to clients of this domain on the HTTPS listener; false: HTTP/1.1 only. */
  http2: z.boolean({ error: 'expected true or false' }).default(true),
  /** gzip/br for text responses the VM sent uncompressed, when the client asks (src/proxy/compression.ts). */
  compression: z.boolean({ error: 'expected true or false' }).default(true),
  /** Strict-Transport-Security on HTTPS answers (src/proxy/hsts.ts); absent: on for upload/letsencrypt, off for self-signed. */
  hsts: hstsSchema.optional(),
}).superRefine((p, ctx) => {
  const wildcard = p.domain.startsWith('*.');
  if (p.target !== undefined && p.owner !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['owner'], message: 'give either target (one VM) or owner (a wildcard template), not both' });
  } else if (p.target === undefined && p.owner === undefined) {
    ctx.addIssue({ code: 'custom', path: ['target'], message: wildcard
      ? 'a wildcard proxy needs owner (route <vm-name>.<domain> to that user\'s VMs) or target (one VM for every name)'
      : 'expected the VM address (target)' });
  } else if (p.owner !== undefined && !wildcard) {
    ctx.addIssue({ code: 'custom', path: ['owner'], message: 'owner makes a wildcard template and needs a domain of the form *.<domain>' });
  }
  if (p.certSource === 'upload') {
    if (!p.certFile) ctx.addIssue({ code: 'custom', path: ['certFile'], message: 'certSource: upload needs certFile (PEM certificate, chain allowed)' });
    if (!p.keyFile) ctx.addIssue({ code: 'custom', path: ['keyFile'], message: 'certSource: upload needs keyFile (PEM private key)' });
  } else {
    if (p.certFile) ctx.addIssue({ code: 'custom', path: ['certFile'], message: 'certFile is only used with certSource: upload' });
    if (p.keyFile) ctx.addIssue({ code: 'custom', path: ['keyFile'], message: 'keyFile is only used with certSource: upload' });
  }
  if (p.hsts !== undefined && p.hsts !== false && !p.ssl) {
    ctx.addIssue({ code: 'custom', path: ['hsts'], message: 'hsts only applies with ssl: true (browsers ignore it over plain HTTP)' });
  }
  if (p.upstreamTls && p.protocol !== 'https') {
    ctx.addIssue({ code: 'custom', path: ['upstreamTls'], message: 'upstreamTls only applies with protocol: https' });
  }
});

const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
  { error: 'expected one of: fatal, error, warn, info, debug, trace, silent' });

export const configSchema = z.strictObject({
  listen: z.strictObject({
    http: listenPort.default(80),
    https: listenPort.default(443),
    host: z.string().min(1).default('0.0.0.0'),
  }).default({ http: 80, https: 443, host: '0.0.0.0' }),
  trustedProxies: z.array(cidr).default([]),
  certs: z.strictObject({
    dir: z.string().min(1).default('./certs'),
  }).default({ dir: './certs' }),
  /** Where the edge keeps what is not configuration: the traffic statistics (traffic.sqlite). */
  data: z.strictObject({
    dir: z.string().min(1).default('./data'),
  }).default({ dir: './data' }),
  log: z.strictObject({
    file: z.string().min(1).nullable().default('./logs/http-proxy.log'),
    level: logLevel.default('info'),
    /** stdout's format: auto (pretty on a terminal, JSON otherwise), json, pretty. The file is always JSON. */
    format: z.enum(['auto', 'json', 'pretty'], { error: 'expected auto, json or pretty' }).default('auto'),
  }).default({ file: './logs/http-proxy.log', level: 'info', format: 'auto' }),
  renewal: z.strictObject({
    renewWithinDays: z.number().int().min(1, { error: 'expected at least 1 day' }).max(365).default(30),
    /** Cron expression of the renewal scan (node-cron: 5 fields, or 6 with seconds). */
    schedule: z.string().refine((s) => cron.validate(s), { error: 'expected a cron expression such as "0 2 * * *" (daily 02:00)' }).default('0 2 * * *'),
    timezone: z.string().refine(isTimeZone, { error: 'expected an IANA time zone such as UTC or Europe/Berlin' }).default('UTC'),
    /** How long a renewal waits for another process holding the name's lock (longer than acme.attemptTimeoutMs). */
    lockWaitMs: z.number().int().min(0).max(3_600_000).default(120_000),
  }).default({ renewWithinDays: 30, schedule: '0 2 * * *', timezone: 'UTC', lockWaitMs: 120_000 }),
  upstream: z.strictObject({
    /** How long to wait for the VM to start answering (headers) before replying 504. */
    timeoutMs: z.number().int().min(100).max(3_600_000).default(60_000),
    /** How long to wait for a TCP connection to the VM before replying 502. */
    connectTimeoutMs: z.number().int().min(50).max(600_000).default(5_000),
    /** Most open connections to one VM service; more requests queue. */
    maxSocketsPerTarget: z.number().int().min(1).max(100_000).default(256),
    /** Idle keep-alive connections kept per VM service (closed after 4 s idle). As many as can be open, so a burst does not close and reopen connections. */
    maxIdleSocketsPerTarget: z.number().int().min(0).max(100_000).default(256),
  }).default({ timeoutMs: 60_000, connectTimeoutMs: 5_000, maxSocketsPerTarget: 256, maxIdleSocketsPerTarget: 256 }),
  /**
   * Deadlines of each inbound phase. Each bounds how long one client can hold a connection without making
   * progress; README "Config reference" gives the reasoning behind each default.
   */
  timeouts: z.strictObject({
    /** From TCP accept to a finished TLS handshake (Node's default is 120 s). */
    tlsHandshakeMs: ms('tlsHandshakeMs', 100, 600_000).default(10_000),
    /** From the first byte of a request (or the connection's start) to the end of its header block: 408 after. */
    requestHeadersMs: ms('requestHeadersMs', 100, 600_000).default(30_000),
    /** Longest pause between two reads of a request body (a stalled upload): 408, and the VM's request is aborted. */
    requestBodyIdleMs: ms('requestBodyIdleMs', 100, 3_600_000).default(60_000),
    /** How long an idle keep-alive connection is kept open for the client's next request. */
    keepAliveMs: ms('keepAliveMs', 100, 3_600_000).default(60_000),
  }).prefault({}),
  limits: z.strictObject({
    /** Request line plus header block, in bytes: 431 above. */
    maxHeaderBytes: z.number({ error: 'expected a number of bytes 1024-1048576' }).int({ error: 'expected a whole number of bytes' })
      .min(1024, { error: 'expected at least 1024 bytes' }).max(1_048_576, { error: 'expected at most 1048576 bytes (1 MiB)' }).default(16_384),
    /** Open client connections per process; 0: no limit. */
    maxConnections: count('maxConnections').default(10_000),
    /** Open connections from one client address per process (trusted proxies are exempt); 0: no limit. */
    maxConnectionsPerClient: count('maxConnectionsPerClient').default(256),
    /** HTTP/2: streams (requests) one client connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). */
    maxConcurrentStreams: z.number({ error: 'expected a number of streams 1-10000' }).int({ error: 'expected a whole number' })
      .min(1, { error: 'expected at least 1' }).max(10_000, { error: 'expected at most 10000' }).default(128),
  }).prefault({}),
  /** Processes serving traffic: 1 (one process does everything) up to 64, or auto (one per CPU). */
  workers: z.union([z.literal('auto'), z.number().int().min(1, { error: 'expected 1-64 or auto' }).max(64, { error: 'expected 1-64 or auto' })],
    { error: 'expected a number of workers 1-64, or auto' }).default(1),
  shutdown: z.strictObject({
    /** In-flight requests get this long to finish on SIGTERM before sockets are closed. */
    graceMs: z.number().int().min(0).max(600_000).default(10_000),
  }).default({ graceMs: 10_000 }),
  errorPages: z.strictObject({
    /** public: pages say what happened in words, the code and the request ID; operator: also the detail the log has. */
    detail: z.enum(['public', 'operator'], { error: 'expected public or operator' }).default('public'),
  }).default({ detail: 'public' }),
  demo: z.strictObject({
    /** Start the built-in demo VM (a page and a WebSocket echo) on 127.0.0.1:port. */
    enabled: z.boolean().default(false),
    port: port('demo').default(8090),
  }).default({ enabled: false, port: 8090 }),
  /** The ACME CA for `certSource: letsencrypt` (see src/acme/config.ts). */
  acme: acmeConfigSchema.optional(),
  /** The control API (see src/admin/config.ts); absent: none. */
  admin: adminConfigSchema.optional(),
  /** Certificate alerts to a webhook (see src/alerts/config.ts); absent: alerts are only logged. */
  alerts: alertsConfigSchema.optional(),
  /** Where certificates, keys, tokens and leases are kept: the file store or a shared Redis (see src/storage/config.ts). */
  storage: storageConfigSchema.prefault({}),
  /** Where the rules come from: this file, or the fleet document in Redis (see src/fleet/config.ts). */
  config: configSourceSchema.prefault({}),
  vms: z.array(vmSchema).default([]),
  proxies: z.array(proxySchema).default([]),
  /** TCP/UDP port forwards (see src/l4/config.ts). */
  forwards: z.array(forwardSchema).default([]),
}).superRefine((c, ctx) => {
  for (const issue of [...acmeRequirementIssues(c.acme, c.proxies, c.certs.dir), ...adminIssues(c.admin, c.listen), ...forwardIssues(c.forwards, c),
    ...storageIssues(c.storage), ...configSourceIssues(c.config, c.storage.type)]) {
    ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  }
  const seenDomain = new Map<string, number>();
  c.proxies.forEach((p, i) => {
    const prev = seenDomain.get(p.domain);
    if (prev !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['proxies', i, 'domain'], message: `${p.domain} is already proxied by proxies[${prev}]` });
    } else {
      seenDomain.set(p.domain, i);
    }
  });
  const seenVm = new Map<string, number>();
  c.vms.forEach((v, i) => {
    const k = `${v.owner}/${v.name}`;
    const prev = seenVm.get(k);
    if (prev !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['vms', i, 'name'], message: `${v.owner} already has a VM named ${v.name} (vms[${prev}])` });
    } else {
      seenVm.set(k, i);
    }
  });
  if (c.listen.http !== 0 && c.listen.http === c.listen.https) {
    ctx.addIssue({ code: 'custom', path: ['listen', 'https'], message: 'http and https cannot share a port' });
  }
});

export type EdgeConfig = z.output<typeof configSchema>;
export type ProxyRule = EdgeConfig['proxies'][number];
export type VmEntry = EdgeConfig['vms'][number];
export type ForwardEntry = EdgeConfig['forwards'][number];
export type CertSource = (typeof certSources)[number];
