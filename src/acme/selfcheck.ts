/**
 * Our own pre-flight check of a published challenge, before the CA is asked to validate it: a failed
 * validation counts against Let's Encrypt's failed-validation limit (5 per account, name and hour), a
 * failed self-check costs nothing. It replaces acme-client's verifyChallenge, which had no deadline (a name
 * whose DNS did not point here yet sat for minutes) and always asked the system resolver.
 *
 * HTTP-01 (RFC 8555 section 8.3): GET `http://<name>:<port>/.well-known/acme-challenge/<token>` at each
 * address the name resolves to (IPv6 first, as the CA tries them), following redirects as the CA does, and
 * compare the body with the key authorization. DNS-01 (section 8.4): look up the TXT records at
 * `_acme-challenge.<name>` until one holds the digest (propagation), polling within the deadline.
 * Both have ONE total deadline (acme.selfCheckTimeoutMs) and end at once when the attempt's signal aborts.
 * Failures are AcmeError(EDGE_ERR_ACME_SELF_CHECK) saying what was tried and what came back.
 */
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { CHALLENGE_PATH_PREFIX } from './challenges.ts';
import { AcmeError, AcmeErrorCodes } from './errors.ts';
import { sleep } from './poll.ts';
import { createSelfCheckDns } from './resolvers.ts';

export interface SelfCheckOptions {
  readonly timeoutMs: number;
  /** 80 in production; tests point it at a local listener. */
  readonly httpPort: number;
  readonly resolvers: readonly string[];
  /** First delay between TXT lookups (doubles up to a second). */
  readonly pollMinMs: number;
}

export interface SelfCheck {
  /** Resolves once `http://<identifier>/…/<token>` answers `keyAuthorization`; `name` is the certificate's, for the error. */
  http(name: string, identifier: string, token: string, keyAuthorization: string, signal?: AbortSignal): Promise<void>;
  /** Resolves once the TXT records at `recordName` hold `digest`. */
  dns(name: string, recordName: string, digest: string, signal?: AbortSignal): Promise<void>;
}

const MAX_REDIRECTS = 10; // what Let's Encrypt follows
const MAX_BODY = 8_192;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const HTTP_ADVICE = 'The CA would see the same. Point the name at this edge (and let port 80 through), or, when this host '
  + 'cannot reach itself by its public name (NAT without hairpinning, offline), set acme.skipChallengeVerification: true';
const DNS_ADVICE = 'The CA would see the same. Check that acme.dnsHook publishes the record before it exits, or set '
  + 'acme.resolvers to the zone\'s authoritative servers (a caching resolver may keep answering from before the record existed)';

interface Answer { status: number; location: string | undefined; body: string }

/** One GET of `url` at `address`, with the URL's Host; the body is cut at MAX_BODY. */
function get(url: URL, address: string, signal: AbortSignal): Promise<Answer> {
  const secure = url.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const req = (secure ? https : http).request({
      host: address, port: url.port || (secure ? 443 : 80), path: `${url.pathname}${url.search}`, method: 'GET', agent: false, signal,
      headers: { host: url.host, 'user-agent': 'idcs-edge-self-check', accept: '*/*', connection: 'close' },
      // The CA does not verify certificates after a redirect to https (the body is what counts), nor do we.
      ...(secure ? { rejectUnauthorized: false, ...(isIP(url.hostname) ? {} : { servername: url.hostname }) } : {}),
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { if (body.length < MAX_BODY) body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const errText = (err: unknown) => {
  const e = err as { code?: unknown; message?: unknown };
  return typeof e?.code === 'string' ? `${e.code}` : String(e?.message ?? err);
};

function describeAnswer(a: Answer, expected: string): string {
  if (a.status !== 200) return `answered HTTP ${a.status}`;
  const body = a.body.trim();
  if (body === '') return 'answered 200 with an empty body';
  // The key authorization is public (it is served to anyone), but a long foreign page is not worth quoting.
  const shown = body.length > 80 ? `${body.slice(0, 80)}…` : body;
  return `answered 200 with ${JSON.stringify(shown)} instead of the key authorization (${expected.split('.')[0]}.…)`;
}

export function createSelfCheck(o: SelfCheckOptions): SelfCheck {
  const resolver = createSelfCheckDns(o.resolvers, Math.max(250, Math.min(2_000, Math.floor(o.timeoutMs / 3))));
  const limit = `no answer within ${o.timeoutMs} ms (acme.selfCheckTimeoutMs)`;
  const fail = (name: string, what: string, tried: readonly string[], advice: string) =>
    new AcmeError(AcmeErrorCodes.SELF_CHECK, name, `self-check of the ${what} failed before asking the CA: ${tried.join('; ')}. ${advice}`);

  return {
    async http(name, identifier, token, keyAuthorization, signal) {
      const deadline = AbortSignal.timeout(o.timeoutMs);
      const s = signal ? AbortSignal.any([signal, deadline]) : deadline;
      let url = new URL(`http://${identifier}${o.httpPort === 80 ? '' : `:${o.httpPort}`}${CHALLENGE_PATH_PREFIX}${token}`);
      const tried: string[] = [];
      try {
        for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
          const literal = url.hostname.replace(/^\[|\]$/g, '');
          let addresses: string[];
          try {
            addresses = isIP(literal) ? [literal] : await resolver.addresses(url.hostname, s);
            if (!isIP(literal)) tried.push(`${url.hostname} resolves to ${addresses.join(', ')} via ${resolver.describe()}`);
          } catch (err) {
            if (s.aborted) throw err;
            tried.push(`${url.hostname} does not resolve via ${resolver.describe()} (${errText(err)})`);
            break;
          }
          let next: URL | null = null;
          for (const address of addresses) {
            let a: Answer;
            try {
              a = await get(url, address, s);
            } catch (err) {
              if (s.aborted) {
                tried.push(`GET ${url.href} at ${address}: ${limit}`);
                throw err;
              }
              // Like the CA: a connection failure on one address falls back to the next.
              tried.push(`GET ${url.href} at ${address}: ${errText(err)}`);
              continue;
            }
            if (a.status === 200 && a.body.trim() === keyAuthorization) return;
            if (REDIRECTS.has(a.status) && a.location) {
              next = new URL(a.location, url);
              tried.push(`GET ${url.href} at ${address}: ${a.status} to ${next.href}`);
            } else {
              tried.push(`GET ${url.href} at ${address}: ${describeAnswer(a, keyAuthorization)}`);
            }
            break;
          }
          if (!next) break;
          url = next;
        }
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        if (!deadline.aborted) throw err;
        if (tried.length === 0) tried.push(`resolving ${url.hostname} via ${resolver.describe()}: ${limit}`);
      }
      throw fail(name, `HTTP-01 challenge for ${identifier}`, tried, HTTP_ADVICE);
    },

    async dns(name, recordName, digest, signal) {
      const deadline = AbortSignal.timeout(o.timeoutMs);
      const s = signal ? AbortSignal.any([signal, deadline]) : deadline;
      let seen: string[] = [];
      let lastError: string | undefined;
      let lookups = 0;
      let wait = o.pollMinMs;
      try {
        for (;;) {
          lookups++;
          try {
            seen = await resolver.txt(recordName, s);
            lastError = undefined;
            if (seen.includes(digest)) return;
          } catch (err) {
            if (s.aborted) throw err;
            seen = [];
            lastError = errText(err);
          }
          await sleep(wait, s);
          wait = Math.min(wait * 2, 1_000);
        }
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        if (!deadline.aborted) throw err;
      }
      const got = lastError ? `no TXT record (${lastError})` : seen.length ? `TXT ${seen.map((v) => JSON.stringify(v)).join(', ')}` : 'no TXT value';
      throw fail(name, `DNS-01 challenge for ${recordName}`, [`${lookups} lookup(s) via ${resolver.describe()} within ${o.timeoutMs} ms `
        + `(acme.selfCheckTimeoutMs) saw ${got}, not the expected ${JSON.stringify(digest)}`], DNS_ADVICE);
    },
  };
}
