import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRetryAfter } from '../../src/acme/retry.ts';
import { AcmeError, AcmeErrorCodes, classifyAcmeError, type AcmeProblem } from '../../src/acme/errors.ts';
import { CertError, EdgeError } from '../../src/errors.ts';

const P = 'urn:ietf:params:acme:error:';
const problem = (type: string, source: AcmeProblem['source'] = 'response', extra: Partial<AcmeProblem> = {}): AcmeProblem =>
  ({ type: `${P}${type}`, detail: `detail of ${type}`, source, ...extra });

describe('ACME error codes', () => {
  const codes = Object.values(AcmeErrorCodes);
  it('are unique and EDGE_ERR_ACME_*', () => {
    assert.equal(new Set(codes).size, codes.length);
    for (const c of codes) assert.match(c, /^EDGE_ERR_ACME_[A-Z_]+$/);
  });
  it('are CertErrors (and so EdgeErrors) carrying the domain', () => {
    const e = new AcmeError(AcmeErrorCodes.FAILED, 'a.example.com', 'm');
    assert.ok(e instanceof CertError && e instanceof EdgeError);
    assert.equal(e.domain, 'a.example.com');
    assert.equal(e.name, 'AcmeError');
  });
});

describe('classifyAcmeError: what the CA said -> code', () => {
  const cases: Array<[string, AcmeProblem, string]> = [
    ['rate limit', problem('rateLimited', 'response', { retryAfter: 60 }), 'EDGE_ERR_ACME_RATE_LIMITED'],
    ['challenge unauthorized', problem('unauthorized', 'challenge'), 'EDGE_ERR_ACME_UNAUTHORIZED'],
    ['challenge connection', problem('connection', 'challenge'), 'EDGE_ERR_ACME_UNAUTHORIZED'],
    ['challenge dns', problem('dns', 'challenge'), 'EDGE_ERR_ACME_UNAUTHORIZED'],
    ['challenge caa', problem('caa', 'challenge'), 'EDGE_ERR_ACME_UNAUTHORIZED'],
    ['challenge incorrectResponse', problem('incorrectResponse', 'challenge'), 'EDGE_ERR_ACME_UNAUTHORIZED'],
    ['request unauthorized (account)', problem('unauthorized'), 'EDGE_ERR_ACME_ACCOUNT'],
    ['EAB required', problem('externalAccountRequired'), 'EDGE_ERR_ACME_ACCOUNT'],
    ['unknown account', problem('accountDoesNotExist'), 'EDGE_ERR_ACME_ACCOUNT'],
    ['policy', problem('rejectedIdentifier'), 'EDGE_ERR_ACME_REJECTED'],
    ['CAA at order time', problem('caa'), 'EDGE_ERR_ACME_REJECTED'],
    ['bad CSR', problem('badCSR'), 'EDGE_ERR_ACME_REJECTED'],
    ['new terms', problem('userActionRequired'), 'EDGE_ERR_ACME_TOS'],
    ['server error', problem('serverInternal'), 'EDGE_ERR_ACME_FAILED'],
  ];
  for (const [what, p, code] of cases) {
    it(`${what} -> ${code}`, () => {
      const e = classifyAcmeError(new Error(p.detail), 'app.example.com', { problem: p });
      assert.equal(e.code, code);
      assert.equal(e.problemType, p.type);
      assert.match(e.message, new RegExp(p.detail));
    });
  }
  it('carries retryAfter from the problem', () => {
    assert.equal(classifyAcmeError(new Error('x'), 'a', { problem: problem('rateLimited', 'response', { retryAfter: 90 }) }).retryAfter, 90);
  });
  it('uses the socket error when acme-client only has a TypeError', () => {
    const sock = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    const e = classifyAcmeError(new TypeError("Cannot read properties of undefined (reading 'status')"), 'a',
      { transportError: sock, directoryUrl: 'https://ca.example/dir' });
    assert.equal(e.code, 'EDGE_ERR_ACME_CONNECTION');
    assert.match(e.message, /ca\.example.*ECONNREFUSED/);
    assert.equal(e.cause, sock);
  });
  it('TLS verification failures point at acme.caFile', () => {
    const e = classifyAcmeError(Object.assign(new Error('self-signed certificate'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }), 'a');
    assert.equal(e.code, 'EDGE_ERR_ACME_CONNECTION');
    assert.match(e.message, /acme\.caFile/);
  });
  it('passes AcmeErrors through and wraps anything else as FAILED', () => {
    const own = new AcmeError(AcmeErrorCodes.DNS, 'a', 'hook');
    assert.equal(classifyAcmeError(own, 'b'), own);
    assert.equal(classifyAcmeError(new Error('odd'), 'a').code, 'EDGE_ERR_ACME_FAILED');
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2030-01-01T00:00:00Z');
  const cases: Array<[unknown, number | undefined]> = [
    ['120', 120], [' 5 ', 5], ['0', 0], ['Tue, 01 Jan 2030 00:10:00 GMT', 600], ['Mon, 31 Dec 2029 23:00:00 GMT', 0],
    ['soon', undefined], ['', undefined], [undefined, undefined], [['1'], undefined],
  ];
  for (const [value, want] of cases) it(`${JSON.stringify(value)} -> ${want}`, () => assert.equal(parseRetryAfter(value, now), want));
});
