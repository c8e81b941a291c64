/**
 * The `letsencrypt` Issuer: any ACME CA, through acme-client's low-level flow (RFC 8555 section 7.4):
 * order -> one challenge per authorization (HTTP-01 for plain names, DNS-01 for wildcards or when configured)
 * -> finalize with a fresh ECDSA P-256 key -> certificate chain. The low-level flow rather than `auto()`
 * because auto() cannot pass per-order fields (notAfter, ARI `replaces`) and hides which step failed.
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
type Challenge = Authorization['challenges'][number];

/** Builds the issuer; throws AcmeError(EDGE_ERR_ACME_CONFIG) when the acme section cannot be used. */
export function createAcmeIssuer(deps: AcmeIssuerDeps): AcmeIssuer {
  const { config, clock, storage } = deps;
  const log = deps.log.child({ component: 'acme' });
  const transport = createAcmeTransport({ directoryUrl: config.directoryUrl, caFile: config.caFile, clock,
    requestTimeoutMs: config.requestTimeoutMs, retryMaxAttempts: config.retryMaxAttempts, maxRetryAfterSeconds: config.maxRetryAfterSeconds });
  // Tokens go through the same storage the edge's challenge route answers from.
  const tokens = createChallengeStore(storage);
  const dnsHook = config.dnsHook ? createDnsHook({ hookPath: config.dnsHook, timeoutMs: config.dnsHookTimeoutMs, log }) : null;
  const keys = accountKeys(config.directoryUrl);
  // One registered client per issuer; a failed registration is forgotten so the next attempt retries it.
  let account: Promise<acme.Client> | undefined;

  async function register(): Promise<acme.Client> {
    const accountKey = await loadOrCreateAccountKey(storage, keys, log);
    const info = await readAccountInfo(storage, keys);
    const client = createAcmeClient({ directoryUrl: config.directoryUrl, accountKey, accountUrl: info?.accountUrl, eab: config.eab,
      pollMinMs: config.pollMinMs, pollMaxMs: config.pollMaxMs, pollAttempts: config.pollAttempts });
    await ensureAccount(client, { storage, keys, directoryUrl: config.directoryUrl, email: config.email, clock, log });
    return client;
  }

  async function selfCheck(client: acme.Client, authz: Authorization, challenge: Challenge, name: string): Promise<void> {
    // A TXT record may take a moment to be visible; an HTTP token is there at once or not at all.
    const attempts = challenge.type === 'dns-01' ? config.pollAttempts : 1;
    let delay = config.pollMinMs;
    for (let i = 1; ; i++) {
      try {
        await client.verifyChallenge(authz, challenge);
        return;
      } catch (err) {
        if (i >= attempts) {
          throw new AcmeError(AcmeErrorCodes.SELF_CHECK, name, `self-check of the ${challenge.type} challenge for ${authz.identifier.value} `
            + `failed before asking the CA (${(err as Error).message}); the CA would see the same. If this host cannot reach `
            + 'itself by its public name (NAT without hairpinning, offline), set acme.skipChallengeVerification: true', { cause: err });
        }
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, config.pollMaxMs);
    }
  }

  /** Proves control of one identifier; the token or TXT record is removed whatever happens. */
  async function authorize(client: acme.Client, authz: Authorization, name: string): Promise<void> {
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
    if (type === 'dns-01') await dnsHook!.set(record, keyAuthorization);
    else await tokens.put((challenge as { token: string }).token, keyAuthorization);
    log.info({ name, identifier, type }, 'acme challenge published');
    try {
      if (!config.skipChallengeVerification) await selfCheck(client, authz, challenge, name);
      await client.completeChallenge(challenge);
      await client.waitForValidStatus(challenge);
      log.info({ name, identifier, type }, 'acme challenge valid');
    } finally {
      // Cleanup errors must not hide the issuance result; a leftover token is harmless, a leftover TXT
      // record is only noise, so both are logged and not thrown.
      const cleanup = type === 'dns-01' ? dnsHook!.clear(record, keyAuthorization) : tokens.remove((challenge as { token: string }).token);
      await cleanup.catch((err: unknown) => log.warn({ err, name, identifier, type }, 'acme challenge cleanup failed'));
    }
  }

  async function issueOnce(req: IssueRequest, signal?: AbortSignal): Promise<IssuedCert> {
    signal?.throwIfAborted();
    if (!account) account = register().catch((err: unknown) => { account = undefined; throw err; });
    const client = await account;
    signal?.throwIfAborted();
    const order = await client.createOrder({ identifiers: req.names.map((value) => ({ type: 'dns', value })) });
    log.info({ name: req.name, names: req.names, order: order.url }, 'acme order created');
    // One authorization at a time: the captured CA problem then belongs to the step that failed.
    for (const authz of await client.getAuthorizations(order)) {
      signal?.throwIfAborted();
      await authorize(client, authz, req.name);
    }
    signal?.throwIfAborted();
    const key = await acme.crypto.createPrivateEcdsaKey('P-256');
    const first = req.names[0]!;
    const [, csr] = await acme.crypto.createCsr({ altNames: [...req.names], ...(first.length <= 64 ? { commonName: first } : {}) }, key);
    const finalized = await client.finalizeOrder(order, csr);
    const certPem = await client.getCertificate(finalized);
    checkIssued(req, certPem, key);
    const leaf = new X509Certificate(certPem);
    log.info({ name: req.name, notAfter: new Date(leaf.validTo).toISOString(), issuer: leaf.issuer }, 'acme certificate issued');
    return { certPem: certPem.endsWith('\n') ? certPem : `${certPem}\n`, keyPem: key.toString() };
  }

  return {
    source: 'letsencrypt',
    issue(req, signal) {
      if (!config.agreeTos) {
        return Promise.reject(new AcmeError(AcmeErrorCodes.TOS, req.name,
          `issuing ${req.name} from ${config.directoryUrl} needs acme.agreeTos: true (agreeing to the CA's terms of service)`));
      }
      return transport.run(req.name, () => issueOnce(req, signal), signal);
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
