import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { classifyUpstreamError, ErrorCodes, httpStatusOf, RoutingError } from '../../src/errors.ts';

describe('error codes', () => {
  const codes = Object.values(ErrorCodes);
  it('are unique', () => assert.equal(new Set(codes).size, codes.length));
  it('are all documented in the README error table', () => {
    const readme = readFileSync('README.md', 'utf8');
    const missing = codes.filter((c) => !readme.includes(`| \`${c}\` |`));
    assert.deepEqual(missing, []);
  });
});

describe('upstream failures map to what an operator can act on', () => {
  const cases: Array<[Record<string, string>, string, number, RegExp]> = [
    [{ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' }, 'EDGE_ERR_UPSTREAM_REFUSED', 502, /refused the connection/],
    [{ code: 'EHOSTUNREACH', message: 'x' }, 'EDGE_ERR_UPSTREAM_UNREACHABLE', 502, /unreachable/],
    [{ code: 'ENOTFOUND', message: 'x' }, 'EDGE_ERR_UPSTREAM_UNREACHABLE', 502, /unreachable/],
    [{ code: 'ECONNECT_TIMEOUT', message: 'x' }, 'EDGE_ERR_UPSTREAM_UNREACHABLE', 502, /unreachable/],
    [{ code: 'EDGE_UPSTREAM_TIMEOUT', message: 'x' }, 'EDGE_ERR_UPSTREAM_TIMEOUT', 504, /did not answer in time/],
    [{ code: 'DEPTH_ZERO_SELF_SIGNED_CERT', message: 'self-signed certificate' }, 'EDGE_ERR_UPSTREAM_TLS', 502, /failed verification/],
    [{ code: 'ERR_TLS_CERT_ALTNAME_INVALID', message: 'x' }, 'EDGE_ERR_UPSTREAM_TLS', 502, /serverName|insecureSkipVerify/],
    [{ code: 'EPROTO', message: 'SSL routines:ssl3_get_record:wrong version number' }, 'EDGE_ERR_UPSTREAM_TLS', 502, /does not speak TLS.*protocol: http/],
    [{ code: 'ECONNRESET', message: 'socket hang up' }, 'EDGE_ERR_UPSTREAM_RESET', 502, /closed the connection/],
    [{ code: 'HPE_INVALID_CONSTANT', message: 'Parse Error: Expected HTTP/' }, 'EDGE_ERR_UPSTREAM_FAILED', 502, /not valid HTTP\/1\.1 \(HPE_INVALID_CONSTANT/],
    // undici's errors (the web path's client)
    [{ code: 'UND_ERR_CONNECT_TIMEOUT', message: 'Connect Timeout Error' }, 'EDGE_ERR_UPSTREAM_UNREACHABLE', 502, /unreachable/],
    [{ code: 'UND_ERR_HEADERS_TIMEOUT', message: 'Headers Timeout Error' }, 'EDGE_ERR_UPSTREAM_TIMEOUT', 504, /did not answer in time/],
    [{ code: 'UND_ERR_SOCKET', message: 'other side closed' }, 'EDGE_ERR_UPSTREAM_RESET', 502, /closed the connection/],
    [{ name: 'HTTPParserError', message: 'Response does not match the HTTP/1.1 protocol (Invalid header token)' }, 'EDGE_ERR_UPSTREAM_FAILED', 502,
      /not valid HTTP\/1\.1 \(Invalid header token\)/],
    [{ code: 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', message: 'Response body length does not match content-length header' }, 'EDGE_ERR_UPSTREAM_FAILED', 502,
      /not valid HTTP\/1\.1/],
    [{ code: 'EWHAT', message: 'odd' }, 'EDGE_ERR_UPSTREAM_FAILED', 502, /EWHAT: odd/],
  ];
  for (const [raw, code, status, re] of cases) {
    it(`${raw.code ?? raw.name} -> ${code} (${status})`, () => {
      const e = classifyUpstreamError(Object.assign(new Error(raw.message), raw), 'http://10.0.0.5:80');
      assert.equal(e.code, code);
      assert.equal(httpStatusOf(e), status);
      assert.match(e.message, re);
      assert.match(e.message, /10\.0\.0\.5:80/);
    });
  }
  it('routing errors and unknown errors', () => {
    assert.equal(httpStatusOf(new RoutingError(ErrorCodes.NO_ROUTE, 'x', 'm')), 404);
    assert.equal(httpStatusOf(new RoutingError(ErrorCodes.NO_HOST, '', 'm')), 400);
    assert.equal(httpStatusOf(new Error('boom')), 500);
  });
});
