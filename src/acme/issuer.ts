/**
 * The `letsencrypt` Issuer: any ACME CA, through acme-client's low-level flow (RFC 8555 section 7.4):
 * order -> one challenge per authorization (HTTP-01 for plain names, DNS-01 for wildcards or when configured)
 * -> finalize with a fresh ECDSA P-256 key -> certificate chain. The low-level flow rather than `auto()`
 * because auto() cannot pass per-order fields (notAfter, ARI `replaces`) and hides which step failed.
 * One attempt has one deadline (acme.attemptTimeoutMs) and one signal: the caller's (shutdown, a lost
 * lock) combined with that deadline reaches every CA request and retry sleep (client.ts), every poll
 * (poll.ts), the self-check (selfcheck.ts) and the DNS hook (dns01.ts), so nothing waits on a CA, a
 * resolver or a hook past either.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import acme from 'acme-client';
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { Storage } from '../storage/contract.ts';
import type { IssueRequest, IssuedCert, Issuer } from '../tls/issuer.ts';
import { accountKeys, ensureAccount, loadOrCreateAccountKey, readAccountInfo } from './account.ts';
import { createChallengeStore } from './challenges.ts';
import { createAcmeClient, createAcmeTransport } from './client.ts';
import type { AcmeConfig } from './config.ts';
import { createDnsHook, dnsRecordName } from './dns01.ts';
import { AcmeError, AcmeErrorCodes } from './errors.ts';
import { waitForStatus } from './poll.ts';
import { createSelfCheck } from './selfcheck.ts';

export interface AcmeIssuerDeps {
  readonly config: AcmeConfig;
  /** Where the account (`acme/…`) and HTTP-01 tokens (`challenges/…`) are kept. */
  readonly storage: Storage;
  readonly log: Logger;
  readonly clock: Clock;
}

export interface AcmeIssuer extends Issuer {
  close(): void;
}

type Authorization = Awaited<ReturnType<acme.Client['getAuthorizations']>>[number];

/** Builds the issuer; throws AcmeError(EDGE_ERR_ACME_CONFIG) when the acme section cannot be used. */
export function createAcmeIssuer(deps: AcmeIssuerDeps): AcmeIssuer {
  const { config, clock, storage } = deps;
  const log = deps.log.child({ component: 'acme' });
  const transport = createAcmeTransport({ directoryUrl: config.directoryUrl, caFile: config.caFile, clock,
    requestTimeoutMs: config.requestTimeoutMs, retryMaxAttempts: config.retryMaxAttempts, maxRetryAfterSeconds: config.maxRetryAfterSeconds,
    retryMinMs: config.pollMinMs, retryMaxMs: config.pollMaxMs });
  // Tokens go through the same storage the edge's challenge route answers from.
  const tokens = createChallengeStore(storage);
  const dnsHook = config.dnsHook ? createDnsHook({ hookPath: config.dnsHook, timeoutMs: config.dnsHookTimeoutMs, log }) : null;
  const selfCheck = createSelfCheck({ timeoutMs: config.selfCheckTimeoutMs, httpPort: config.selfCheckHttpPort,
    resolvers: config.resolvers, pollMinMs: config.pollMinMs });
  const keys = accountKeys(config.directoryUrl);
  // One registered client per issuer; a failed registration is forgotten so the next attempt retries it.
  let account: Promise<acme.Client> | undefined;

  async function register(signal: AbortSignal): Promise<acme.Client> {
    const accountKey = await loadOrCreateAccountKey(storage, keys, log, signal);
    const info = await readAccountInfo(storage, keys);
    const client = createAcmeClient({ directoryUrl: config.directoryUrl, accountKey, accountUrl: info?.accountUrl, eab: config.eab,
      pollMinMs: config.pollMinMs, pollMaxMs: config.pollMaxMs, pollAttempts: config.pollAttempts });
    await ensureAccount(client, { storage, keys, directoryUrl: config.directoryUrl, email: config.email, clock, log });
    return client;
  }

  /** What the attempt is doing now, for the messages of a deadline or an abandoned attempt. */
  interface Attempt { readonly name: string; readonly signal: AbortSignal; step: string }
  const poll = (a: Attempt) => ({ domain: a.name, minMs: config.pollMinMs, maxMs: config.pollMaxMs, attempts: config.pollAttempts, signal: a.signal });

  /** Proves control of one identifier; the token or TXT record is removed whatever happens. */
  async function authorize(client: acme.Client, authz: Authorization, a: Attempt, outer: AbortSignal | undefined): Promise<void> {
    const { name } = a;
    const identifier = authz.identifier.value;
    if (authz.status === 'valid') {
      log.debug({ identifier }, 'acme authorization already valid');
      return;
    }
    const type = authz.wildcard === true || config.challenge === 'dns-01' ? 'dns-01' : 'http-01';
    const challenge = authz.challenges.find((c) => c.type === type);
    if (!challenge) {
      throw new AcmeError(AcmeErrorCodes.REJECTED, name, `the ACME CA offers no ${type} challenge for ${identifier} `
        + `(offered: ${authz.challenges.map((c) => c.type).join(', ') || 'none'})`);
    }
    if (type === 'dns-01' && !dnsHook) {
      throw new AcmeError(AcmeErrorCodes.DNS, name, `${authz.wildcard ? `*.${identifier}` : identifier} needs a DNS-01 challenge: `
        + 'set acme.dnsHook (an executable called set|clear <name> <value>)');
    }
    const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
    const record = dnsRecordName(identifier);
    const token = (challenge as { token: string }).token;
    a.step = type === 'dns-01' ? `running the DNS hook (set ${record})` : 'publishing the HTTP-01 token';
    if (type === 'dns-01') await dnsHook!.set(record, keyAuthorization, a.signal);
    else await tokens.put(token, keyAuthorization);
    log.info({ name, identifier, type }, 'acme challenge published');
    try {
      if (!config.skipChallengeVerification) {
        a.step = `self-checking the ${type} challenge`;
        if (type === 'dns-01') await selfCheck.dns(name, record, keyAuthorization, a.signal);
        else await selfCheck.http(name, identifier, token, keyAuthorization, a.signal);
        log.debug({ name, identifier, type }, 'acme self-check passed');
      }
      a.step = `waiting for the CA to validate ${identifier}`;
      await client.completeChallenge(challenge);
      await waitForStatus(`the authorization of ${identifier}`, async () => (await client.getAuthorizations(
        { authorizations: [authz.url] } as unknown as acme.Order))[0]!, poll(a));
      log.info({ name, identifier, type }, 'acme challenge valid');
    } finally {
      // Cleanup errors must not hide the issuance result; a leftover token is harmless, a leftover TXT
      // record is only noise, so both are logged and not thrown. The hook's clear gets its own timeout but
      // not the attempt's deadline (which may be what ended the attempt); on shutdown it is not started.
      const cleanup = type === 'http-01' ? tokens.remove(token)
        : outer?.aborted ? Promise.reject(new Error('not cleared: shutting down')) : dnsHook!.clear(record, keyAuthorization, outer);
      await cleanup.catch((err: unknown) => log.warn({ err: (err as Error)?.message ?? err, name, identifier, type }, 'acme challenge cleanup failed'));
    }
  }

  async function issueOnce(req: IssueRequest, a: Attempt, outer: AbortSignal | undefined): Promise<IssuedCert> {
    a.signal.throwIfAborted();
    a.step = 'registering the ACME account';
    if (!account) account = register(a.signal).catch((err: unknown) => { account = undefined; throw err; });
    const client = await account;
    a.step = 'creating the order';
    const order = await client.createOrder({ identifiers: req.names.map((value) => ({ type: 'dns', value })) });
    log.info({ name: req.name, names: req.names, order: order.url }, 'acme order created');
    // One authorization at a time: the captured CA problem then belongs to the step that failed.
    for (const authz of await client.getAuthorizations(order)) await authorize(client, authz, a, outer);
    a.signal.throwIfAborted();
    a.step = 'finalizing the order';
    const key = await acme.crypto.createPrivateEcdsaKey('P-256');
    const first = req.names[0]!;
    const [, csr] = await acme.crypto.createCsr({ altNames: [...req.names], ...(first.length <= 64 ? { commonName: first } : {}) }, key);
    const finalized = await client.finalizeOrder(order, csr);
    a.step = 'waiting for the certificate';
    const valid = await waitForStatus('the order', () => client.getOrder(finalized), poll(a));
    const certPem = await client.getCertificate(valid);
    checkIssued(req, certPem, key);
    const leaf = new X509Certificate(certPem);
    log.info({ name: req.name, notAfter: new Date(leaf.validTo).toISOString(), issuer: leaf.issuer }, 'acme certificate issued');
    return { certPem: certPem.endsWith('\n') ? certPem : `${certPem}\n`, keyPem: key.toString() };
  }

  return {
    source: 'letsencrypt',
    async issue(req, signal) {
      if (!config.agreeTos) {
        throw new AcmeError(AcmeErrorCodes.TOS, req.name,
          `issuing ${req.name} from ${config.directoryUrl} needs acme.agreeTos: true (agreeing to the CA's terms of service)`);
      }
      const deadline = AbortSignal.timeout(config.attemptTimeoutMs);
      const a: Attempt = { name: req.name, signal: signal ? AbortSignal.any([signal, deadline]) : deadline, step: 'starting' };
      try {
        return await transport.run(req.name, () => issueOnce(req, a, signal), a.signal);
      } catch (err) {
        if (signal?.aborted) {
          log.info({ name: req.name, step: a.step, reason: (signal.reason as Error)?.message }, 'acme attempt stopped');
          throw err;
        }
        if (deadline.aborted) {
          throw new AcmeError(AcmeErrorCodes.FAILED, req.name, `gave up on ${req.name} after ${config.attemptTimeoutMs} ms `
            + `(acme.attemptTimeoutMs) while ${a.step}; the renewal backoff tries again later`, { cause: err });
        }
        throw err;
      }
    },
    close: () => transport.close(),
  };
}

/** The CA must have signed what we asked for: every name, and our key. */
function checkIssued(req: IssueRequest, certPem: string, key: Buffer): void {
  const leaf = new X509Certificate(certPem);
  const sans = (leaf.subjectAltName ?? '').split(', ').filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4).toLowerCase());
  const missing = req.names.filter((n) => !sans.includes(n.toLowerCase()));
  if (missing.length > 0 || !leaf.checkPrivateKey(createPrivateKey(key))) {
    throw new AcmeError(AcmeErrorCodes.FAILED, req.name, missing.length > 0
      ? `the ACME CA returned a certificate without ${missing.join(', ')}` : 'the ACME CA returned a certificate for another key');
  }
}
