/**
 * The `acme` section of the config: which ACME CA to use and how to prove control of a name. The fragment is
 * mounted by config/schema.ts at the top-level key `acme`; the checks that need the rest of the config
 * (proxies asking for `letsencrypt`) live in `acmeRequirementIssues` so the top-level schema can call them.
 */
import { isIP } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { resolvePathKeys } from '../config/paths.ts';

/** Short names for well-known directories; anything else must be an https URL (RFC 8555 section 6.1). */
export const KNOWN_DIRECTORIES = Object.freeze({
  letsencrypt: 'https://acme-v02.api.letsencrypt.org/directory',
  'letsencrypt-staging': 'https://acme-staging-v02.api.letsencrypt.org/directory',
} as const);

const directoryUrl = z.string({ error: 'expected letsencrypt, letsencrypt-staging or the https URL of an ACME directory' })
  .trim()
  .refine((s) => s in KNOWN_DIRECTORIES || isHttpsUrl(s),
    { error: 'expected letsencrypt, letsencrypt-staging or the https URL of an ACME directory' })
  .transform((s) => (s in KNOWN_DIRECTORIES ? KNOWN_DIRECTORIES[s as keyof typeof KNOWN_DIRECTORIES] : s));

function isHttpsUrl(s: string): boolean {
  try {
    return new URL(s).protocol === 'https:';
  } catch {
    return false;
  }
}

const ms = (min: number, max: number, def: number) => z.number().int().min(min).max(max).default(def);

const resolverAddress = z.string({ error: 'expected an IP address with an optional port: 192.0.2.53, 192.0.2.53:5353 or [2001:db8::53]:53' })
  .trim()
  .refine((s) => parseResolver(s) !== null,
    { error: 'expected an IP address with an optional port: 192.0.2.53, 192.0.2.53:5353 or [2001:db8::53]:53' });

/** `ip`, `ip:port` or `[v6]:port` -> host and port (53 when absent); null when it is not one of those. */
export function parseResolver(s: string): { host: string; port: number } | null {
  const m = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(s) ?? (isIP(s) === 6 ? [s, s, undefined] : /^([^:]+)(?::(\d{1,5}))?$/.exec(s));
  if (!m || !isIP(m[1]!)) return null;
  const port = m[2] === undefined ? 53 : Number(m[2]);
  return port >= 1 && port <= 65_535 ? { host: m[1]!, port } : null;
}

export const acmeConfigSchema = z.strictObject({
  /** Resolved to a URL here, so everything downstream sees one form (the account file is keyed by it). */
  directoryUrl: directoryUrl.default(KNOWN_DIRECTORIES.letsencrypt),
  /** Contact for the account; optional for Let's Encrypt, which no longer sends expiry mail. */
  email: z.email({ error: 'expected an email address such as ops@example.com' }).optional(),
  /** The CA's terms of service must be agreed to explicitly (RFC 8555 section 7.3 termsOfServiceAgreed). */
  agreeTos: z.boolean({ error: 'expected true or false' }).default(false),
  /** Extra PEM CA(s) trusted for the ACME server, on top of the system roots (private CAs, Pebble). */
  caFile: z.string().min(1).optional(),
  /** External Account Binding (RFC 8555 section 7.3.4), required by some CAs (ZeroSSL, Google, private CAs). */
  eab: z.strictObject({
    kid: z.string().min(1, { error: 'expected the key identifier the CA gave you' }),
    hmacKey: z.string().regex(/^[A-Za-z0-9_=+/-]+$/, { error: 'expected the base64url HMAC key the CA gave you' }),
  }).optional(),
  /** Executable called `set|clear <_acme-challenge.name> <value>` for DNS-01 (needed for wildcard names). */
  dnsHook: z.string().min(1).optional(),
  /**
   * One hook call; the hook and everything it started (its process group) are killed when it runs out.
   * 60 s like lego's DNS propagation timeout; the attempt's own deadline (attemptTimeoutMs) also applies.
   */
  dnsHookTimeoutMs: ms(1_000, 600_000, 60_000),
  /**
   * `auto`: HTTP-01 for plain names, DNS-01 for wildcards. `dns-01`: DNS-01 for every name (an edge that
   * the CA cannot reach on port 80).
   */
  challenge: z.enum(['auto', 'dns-01'], { error: 'expected auto or dns-01' }).default('auto'),
  /** Where HTTP-01 tokens are kept; default `acme-challenges` next to certs.dir, never inside it. */
  challengeDir: z.string().min(1).optional(),
  /**
   * Skip our self-check of a challenge (selfcheck.ts: an HTTP GET to the name, a TXT lookup) before asking
   * the CA. The check saves failed validations, which Let's Encrypt rate limits, but fails behind NAT
   * without hairpinning and offline.
   */
  skipChallengeVerification: z.boolean({ error: 'expected true or false' }).default(false),
  /** The whole self-check of one challenge, DNS lookups and TXT propagation polls included. */
  selfCheckTimeoutMs: ms(500, 300_000, 10_000),
  /** The port the HTTP-01 self-check connects to: 80 (where the CA connects, RFC 8555 section 8.3); other values are for tests. */
  selfCheckHttpPort: z.number().int().min(1, { error: 'expected 1-65535' }).max(65_535, { error: 'expected 1-65535' }).default(80),
  /**
   * DNS servers the self-check asks (`ip` or `ip:port`, `[v6]:port`): TXT records of DNS-01 and the A/AAAA
   * records of HTTP-01. Empty: the system's resolvers (/etc/resolv.conf; /etc/hosts for A/AAAA).
   */
  resolvers: z.array(resolverAddress).max(8).default([]),
  /** Retries of a request the CA answered with 5xx/429 or that failed on the network (acme-client's own). */
  retryMaxAttempts: z.number().int().min(0).max(10).default(3),
  /** A Retry-After longer than this fails the attempt at once; the renewal backoff retries later. */
  maxRetryAfterSeconds: z.number().int().min(0).max(86_400).default(60),
  /** Polling of pending challenges and orders: first delay, longest delay, number of polls. */
  pollMinMs: ms(10, 60_000, 2_000),
  pollMaxMs: ms(10, 300_000, 30_000),
  pollAttempts: z.number().int().min(1).max(100).default(10),
  /** One HTTP request to the CA. */
  requestTimeoutMs: ms(1_000, 300_000, 30_000),
  /**
   * One whole attempt at a certificate (account, order, DNS hook, self-check, validation, finalize, retries):
   * past it the attempt is abandoned and the name's lock released, so a failing CA never holds it for long.
   */
  attemptTimeoutMs: ms(1_000, 3_600_000, 90_000),
});

export type AcmeConfig = z.output<typeof acmeConfigSchema>;

/** The defaults, for configs without an `acme` section. */
export const defaultAcmeConfig: AcmeConfig = Object.freeze(acmeConfigSchema.parse({}));

/** Where HTTP-01 tokens live: the configured folder, or `acme-challenges` next to the certificates folder. */
export function challengeDirFor(acme: Pick<AcmeConfig, 'challengeDir'>, certsDir: string): string {
  return acme.challengeDir ?? join(dirname(resolve(certsDir)), 'acme-challenges');
}

/** Relative file paths in the section resolved against `baseDir` (config/load.ts resolves the rest the same way). */
export function resolveAcmePaths(acme: AcmeConfig, baseDir: string): AcmeConfig {
  return resolvePathKeys(acme, ['caFile', 'dnsHook', 'challengeDir'], baseDir);
}

/**
 * Problems that need the whole config: a `letsencrypt` proxy without agreeTos, a wildcard without a DNS hook,
 * a challenge folder inside the certificates folder (the responder would sit next to private keys).
 * Returns `{ path, message }` pairs with paths in zod's array form, for the top-level superRefine.
 */
export function acmeRequirementIssues(
  acme: AcmeConfig | undefined,
  proxies: ReadonlyArray<{ domain: string; certSource: string; owner?: string | undefined; enabled?: boolean }>,
  certsDir: string,
): Array<{ path: Array<string | number>; message: string }> {
  const issues: Array<{ path: Array<string | number>; message: string }> = [];
  const a = acme ?? defaultAcmeConfig;
  // Checked with or without letsencrypt proxies: the storage is built from these folders at every start.
  const dir = resolve(challengeDirFor(a, certsDir));
  const certs = resolve(certsDir);
  if (dir === certs || dir.startsWith(`${certs}/`)) {
    issues.push({ path: ['acme', 'challengeDir'], message: 'challengeDir must not be inside certs.dir, where private keys live' });
  }
  const wanted = proxies.map((p, i) => [p, i] as const).filter(([p]) => p.certSource === 'letsencrypt');
  if (wanted.length === 0) return issues;
  if (!a.agreeTos) {
    issues.push({ path: acme ? ['acme', 'agreeTos'] : ['acme'],
      message: `certSource: letsencrypt (proxies[${wanted[0]![1]}]) needs acme.agreeTos: true, agreeing to the CA's terms of service` });
  }
  for (const [p, i] of wanted) {
    // A template (owner) without a hook is fine: each VM's own name gets an HTTP-01 certificate. A plain
    // wildcard (target) covers names nobody listed, so only a wildcard certificate can serve it.
    const needsDns = a.challenge === 'dns-01' || (p.domain.startsWith('*.') && p.owner === undefined);
    if (needsDns && !a.dnsHook) {
      issues.push({ path: ['proxies', i, 'certSource'],
        message: `${p.domain} needs a DNS-01 challenge: set acme.dnsHook (an executable called set|clear <name> <value>)` });
    }
  }
  return issues;
}
