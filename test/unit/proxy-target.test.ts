import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateConfig } from '../../src/config/load.ts';
import { headersCheckIntervalMs } from '../../src/proxy/inbound.ts';
import { checkRequestTarget, type TargetRequest } from '../../src/proxy/target.ts';

const req = (url: string, headers: Record<string, string> = {}, method = 'GET'): TargetRequest => ({ url, method, headers: { host: 'a.example.com', ...headers } });

describe('request targets (pure)', () => {
  const cases: Array<[string, TargetRequest, string | null, string?, string?]> = [
    ['origin-form passes untouched', req('/x/../y?q'), null, '/x/../y?q', 'a.example.com'],
    ['absolute-form becomes origin-form with its authority as Host', req('http://b.example.com:8080/p?q'), null, '/p?q', 'b.example.com:8080'],
    ['absolute-form without a path', req('https://b.example.com'), null, '/', 'b.example.com'],
    ['absolute-form with only a query', req('http://b.example.com?x=1'), null, '/?x=1', 'b.example.com'],
    ['absolute-form keeps dot segments byte for byte', req('http://b.example.com/a/%2e%2e/b'), null, '/a/%2e%2e/b', 'b.example.com'],
    ['absolute-form with user information', req('http://u:p@b.example.com/'), 'EDGE_ERR_BAD_TARGET'],
    ['absolute-form without a host', req('http:///x'), 'EDGE_ERR_BAD_TARGET'],
    ['another scheme', req('ftp://b.example.com/'), 'EDGE_ERR_BAD_TARGET'],
    ['* with OPTIONS', req('*', {}, 'OPTIONS'), null, '*'],
    ['* with GET', req('*'), 'EDGE_ERR_BAD_TARGET'],
    ['a challenge token', req('/.well-known/acme-challenge/Ab-_9?x=1'), null],
    ['a challenge path with ..', req('/.well-known/acme-challenge/../x'), 'EDGE_ERR_BAD_TARGET'],
    ['a challenge path with an encoded slash', req('/.well-known/acme-challenge/a%2Fb'), 'EDGE_ERR_BAD_TARGET'],
    ['an empty challenge token', req('/.well-known/acme-challenge/'), 'EDGE_ERR_BAD_TARGET'],
    ['a challenge path in absolute-form', req('http://b.example.com/.well-known/acme-challenge/%2e%2e'), 'EDGE_ERR_BAD_TARGET'],
    ['Transfer-Encoding: chunked', req('/', { 'transfer-encoding': 'Chunked' }), null],
    ['Transfer-Encoding: gzip, chunked', req('/', { 'transfer-encoding': 'gzip, chunked' }), 'EDGE_ERR_NOT_IMPLEMENTED'],
  ];
  for (const [what, r, code, url, host] of cases) {
    it(what, () => {
      const f = checkRequestTarget(r);
      assert.equal(f?.code ?? null, code, f?.message);
      if (url !== undefined) assert.equal(r.url, url);
      if (host !== undefined) assert.equal(r.headers.host, host);
    });
  }
});

describe('inbound config', () => {
  it('has the documented defaults', () => {
    const c = validateConfig({});
    assert.deepEqual(c.timeouts, { tlsHandshakeMs: 10_000, requestHeadersMs: 30_000, requestBodyIdleMs: 60_000, keepAliveMs: 60_000 });
    assert.deepEqual(c.limits, { maxHeaderBytes: 16_384, maxConnections: 10_000, maxConnectionsPerClient: 256, maxConcurrentStreams: 128 });
  });
  it('fills a partial section and names the path of a bad value', () => {
    assert.equal(validateConfig({ timeouts: { keepAliveMs: 5000 } }).timeouts.requestHeadersMs, 30_000);
    assert.throws(() => validateConfig({ timeouts: { requestHeadersMs: 10 } }), /timeouts\.requestHeadersMs: expected at least 100 ms/);
    assert.throws(() => validateConfig({ limits: { maxConnections: -1 } }), /limits\.maxConnections: expected 0 \(no limit\) or more/);
    assert.throws(() => validateConfig({ limits: { maxHeaderBytes: 100 } }), /limits\.maxHeaderBytes: expected at least 1024 bytes/);
    assert.throws(() => validateConfig({ limits: { maxConections: 1 } }), /limits: unknown key: maxConections/);
  });
  it('checks the headers deadline often enough to keep it', () => {
    assert.deepEqual([30_000, 2_000, 600, 40].map(headersCheckIntervalMs), [1_000, 500, 150, 25]);
  });
});
