import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compressorFor, createEncodingNegotiator, isCompressibleType, parseAcceptEncoding } from '../../src/proxy/compression.ts';

describe('Accept-Encoding negotiation', () => {
  const cases: Array<[string, 'br' | 'gzip' | null]> = [
    ['gzip', 'gzip'], ['br', 'br'], ['gzip, br', 'br'], ['br, gzip', 'br'], ['gzip;q=1, br;q=0.9', 'gzip'],
    ['br;q=0.2, gzip;q=0.1', 'br'], ['GZIP', 'gzip'], ['x-gzip', 'gzip'], ['*', 'br'], ['*;q=0.5, br;q=0', 'gzip'],
    ['gzip;q=0', null], ['identity', null], ['deflate, zstd', null], ['', null], [' , ;q=1', null],
    ['gzip ; q = 0.5', 'gzip'], ['br;q=nonsense, gzip', 'gzip'], ['br;level=1', 'br'],
  ];
  for (const [header, want] of cases) it(`${JSON.stringify(header)} -> ${want}`, () => assert.equal(parseAcceptEncoding(header), want));
  it('a negotiator answers the same from its cache', () => {
    const n = createEncodingNegotiator();
    assert.equal(n('gzip, br'), 'br');
    assert.equal(n('gzip, br'), 'br');
    assert.equal(n(undefined), null);
  });
});

describe('which answers are compressed', () => {
  it('text types and their kin; not images, archives or fonts', () => {
    for (const t of ['text/html; charset=utf-8', 'text/css', 'application/json', 'application/problem+json', 'image/svg+xml',
      'application/javascript', 'application/wasm', 'application/rss+xml']) assert.ok(isCompressibleType(t), t);
    for (const t of ['image/png', 'application/zip', 'font/woff2', 'video/mp4', 'application/octet-stream']) assert.ok(!isCompressibleType(t), t);
  });
  it('edits the headers of a compressed answer and leaves the others alone', () => {
    const h = ['Content-Type', 'text/html', 'Content-Length', '5000', 'ETag', '"x"', 'Accept-Ranges', 'bytes', 'Vary', '*'];
    assert.ok(compressorFor('gzip', 200, h));
    assert.deepEqual(h, ['Content-Type', 'text/html', 'ETag', 'W/"x"', 'Vary', '*', 'content-encoding', 'gzip']);
    const cases: Array<[number, string[]]> = [
      [206, ['content-type', 'text/html']], [204, ['content-type', 'text/html']], [304, ['content-type', 'text/html']],
      [200, ['content-type', 'text/html', 'content-encoding', 'br']], [200, ['content-type', 'text/html', 'cache-control', 'No-Transform']],
      [200, ['content-type', 'text/html', 'content-length', '1023']], [200, ['content-length', '5000']], [200, ['content-type', 'image/jpeg']],
    ];
    for (const [status, headers] of cases) {
      const before = [...headers];
      assert.equal(compressorFor('br', status, headers), null, `${status} ${before.join(' ')}`);
      assert.deepEqual(headers, before);
    }
  });
});
