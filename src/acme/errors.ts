/**
 * ACME failures as CertErrors with stable codes. acme-client throws plain Errors whose message is the CA's
 * `detail`; the problem document's `type` and the Retry-After header are captured on the side (client.ts)
 * and classified here, at our boundary, into something an operator can act on.
 */
import { CertError, ErrorCodes, isTlsFailureCode } from '../errors.ts';

/** The ACME codes of the one list in src/errors.ts, by short name (the README's error table explains each). */
export const AcmeErrorCodes = {
  /** acme.agreeTos is not true, or the CA asks for new terms to be agreed (userActionRequired). */
  TOS: ErrorCodes.ACME_TOS,
  /** The CA rate-limited us (urn:ietf:params:acme:error:rateLimited); `retryAfter` says when to try again. */
  RATE_LIMITED: ErrorCodes.ACME_RATE_LIMITED,
  /** The CA could not validate a challenge; the message carries the CA's detail. */
  UNAUTHORIZED: ErrorCodes.ACME_UNAUTHORIZED,
  /** Our own pre-flight check of a challenge (skipChallengeVerification: false) failed. */
  SELF_CHECK: ErrorCodes.ACME_SELF_CHECK,
  /** The CA could not be reached: DNS, refused, timeout, or its certificate is not trusted (acme.caFile). */
  CONNECTION: ErrorCodes.ACME_CONNECTION,
  /** The DNS hook failed, timed out or is missing for a DNS-01 challenge. */
  DNS: ErrorCodes.ACME_DNS,
  /** The account was refused: EAB missing or wrong, account unknown or deactivated. */
  ACCOUNT: ErrorCodes.ACME_ACCOUNT,
  /** The CA refuses to issue for these names (policy, CAA, unsupported identifier, bad CSR). */
  REJECTED: ErrorCodes.ACME_REJECTED,
  /** The acme section cannot be used as written (unreadable caFile). */
  CONFIG: ErrorCodes.ACME_CONFIG,
  /** Anything else the CA or the flow reported. */
  FAILED: ErrorCodes.ACME_FAILED,
} as const;

export type AcmeErrorCode = (typeof AcmeErrorCodes)[keyof typeof AcmeErrorCodes];

export const PROBLEM_PREFIX = 'urn:ietf:params:acme:error:';

/** An RFC 8555 section 6.7 problem document as the CA sent it, plus the HTTP facts around it. */
export interface AcmeProblem {
  readonly type: string;
  readonly detail: string;
  readonly status?: number;
  /** Seconds, from the Retry-After header (RFC 8555 section 6.6). */
  readonly retryAfter?: number;
  /** Where it came from: a failed request, or an invalid challenge/authorization polled with 200. */
  readonly source: 'response' | 'challenge';
}

export class AcmeError extends CertError {
  readonly problemType: string | undefined;
  readonly retryAfter: number | undefined;
  constructor(code: AcmeErrorCode, domain: string, message: string,
    opts: { problemType?: string; retryAfter?: number; cause?: unknown } = {}) {
    super(code, domain, message, { cause: opts.cause });
    this.problemType = opts.problemType;
    this.retryAfter = opts.retryAfter;
  }
}

const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT',
  'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ERR_NETWORK']);

const CHALLENGE_TYPES = new Set(['unauthorized', 'incorrectResponse', 'connection', 'dns', 'caa', 'tls', 'unknownHost']);
const REJECTED_TYPES = new Set(['rejectedIdentifier', 'unsupportedIdentifier', 'caa', 'badCSR', 'malformed',
  'badSignatureAlgorithm', 'badPublicKey']);
const ACCOUNT_TYPES = new Set(['accountDoesNotExist', 'externalAccountRequired', 'unauthorized', 'invalidContact',
  'unsupportedContact', 'badRevocationReason']);

/**
 * Turns whatever the ACME flow threw into an AcmeError. `seen.problem` is the last problem document the CA
 * sent during the attempt, `seen.transportError` the last error of a request without a response, and
 * `lastFailure`/`retries` what the transport's retries saw (client.ts and retry.ts capture them); without a
 * problem the error's code decides.
 */
export function classifyAcmeError(err: unknown, domain: string,
  seen: { problem?: AcmeProblem | undefined; transportError?: Error | undefined; directoryUrl?: string;
    lastFailure?: string | undefined; retries?: number } = {}): AcmeError {
  if (err instanceof AcmeError) return err;
  const { problem, directoryUrl } = seen;
  // Whether the transport retried (retry.ts): a CA failing after retries reads differently from one refusal.
  const tried = seen.retries ? `; gave up after ${seen.retries} ${seen.retries === 1 ? 'retry' : 'retries'} (acme.retryMaxAttempts)` : '';
  // Without a response acme-client throws a TypeError; the socket's own error is the real cause then.
  const e = (typeof (err as { code?: unknown })?.code === 'string' ? err : seen.transportError ?? err) as { code?: unknown; message?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(err);
  if (problem) {
    const short = problem.type.startsWith(PROBLEM_PREFIX) ? problem.type.slice(PROBLEM_PREFIX.length) : problem.type;
    const opts = { problemType: problem.type, cause: err, ...(problem.retryAfter ? { retryAfter: problem.retryAfter } : {}) };
    if (short === 'rateLimited') {
      const when = problem.retryAfter ? `; retry after ${problem.retryAfter} s` : '';
      return new AcmeError(AcmeErrorCodes.RATE_LIMITED, domain, `the ACME CA rate-limited the request for ${domain}: ${problem.detail}${when}`, opts);
    }
    if (problem.source === 'challenge' && CHALLENGE_TYPES.has(short)) {
      return new AcmeError(AcmeErrorCodes.UNAUTHORIZED, domain,
        `the ACME CA could not validate control of ${domain} (${short}): ${problem.detail}`, opts);
    }
    if (short === 'userActionRequired') {
      return new AcmeError(AcmeErrorCodes.TOS, domain, `the ACME CA needs action on the account (new terms of service?): ${problem.detail}`, opts);
    }
    if (ACCOUNT_TYPES.has(short)) {
      return new AcmeError(AcmeErrorCodes.ACCOUNT, domain, `the ACME CA refused the account (${short}): ${problem.detail}`, opts);
    }
    if (REJECTED_TYPES.has(short)) {
      return new AcmeError(AcmeErrorCodes.REJECTED, domain, `the ACME CA refuses to issue for ${domain} (${short}): ${problem.detail}`, opts);
    }
    const http = problem.status !== undefined && problem.status >= 500 ? ` (HTTP ${problem.status}${tried})` : '';
    return new AcmeError(AcmeErrorCodes.FAILED, domain, `ACME issuance for ${domain} failed (${short}): ${problem.detail}${http}`, opts);
  }
  const code = typeof e?.code === 'string' ? e.code : '';
  const where = directoryUrl ? ` at ${directoryUrl}` : '';
  if (isTlsFailureCode(code)) {
    return new AcmeError(AcmeErrorCodes.CONNECTION, domain,
      `the ACME CA's certificate${where} is not trusted (${code}); for a private CA set acme.caFile`, { cause: e });
  }
  if (CONNECT_CODES.has(code)) {
    return new AcmeError(AcmeErrorCodes.CONNECTION, domain, `cannot reach the ACME CA${where} (${code}: ${message}${tried})`, { cause: e });
  }
  const last = seen.lastFailure ? ` (${seen.lastFailure}${tried})` : '';
  return new AcmeError(AcmeErrorCodes.FAILED, domain, `ACME issuance for ${domain} failed: ${message}${last}`, { cause: err });
}
