import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { firstLabel, lookupExactThenWildcard, normalizeHost, parentDomain } from '../../src/routing/host.ts';

describe('normalizeHost', () => {
  const cases: Array<[string | undefined | null, string | null]> = [
    ['app.example.com', 'app.example.com'],
    ['App.Example.COM', 'app.example.com'],
    ['app.example.com.', 'app.example.com'],
    ['app.example.com:8443', 'app.example.com'],
    ['APP.example.com.:80', 'app.example.com'],
    ['[::1]:8080', '::1'],
    ['[::1]', '::1'],
    ['[2001:DB8::1]:443', '2001:db8::1'],
    ['127.0.0.1:8080', '127.0.0.1'],
    ['::1', '::1'],
    ['', null],
    [undefined, null],
    [null, null],
    ['.', null],
    [':8080', null],
    ['[::1', null],
  ];
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input)} -> ${JSON.stringify(expected)}`, () => {
      assert.equal(normalizeHost(input), expected);
    });
  }
});

describe('parentDomain / firstLabel', () => {
  const cases: Array<[string, string | null, string]> = [
    ['a.b.example.com', 'b.example.com', 'a'],
    ['web1.user1.example.com', 'user1.example.com', 'web1'],
    ['localhost', null, 'localhost'],
    ['trailing.', null, 'trailing'],
  ];
  for (const [host, parent, label] of cases) {
    it(host, () => {
      assert.equal(parentDomain(host), parent);
      assert.equal(firstLabel(host), label);
    });
  }
});

describe('lookupExactThenWildcard', () => {
  const exact = new Map([['app.example.com', 'exact-app'], ['x.user1.example.com', 'exact-x']]);
  const wild = new Map([['user1.example.com', 'wild-user1'], ['example.com', 'wild-example']]);
  const cases: Array<[string, string | undefined]> = [
    ['app.example.com', 'exact-app'],
    ['x.user1.example.com', 'exact-x'], // exact wins over wildcard
    ['web1.user1.example.com', 'wild-user1'], // most specific wildcard
    ['a.b.user1.example.com', undefined], // one label only
    ['other.example.com', 'wild-example'],
    ['example.com', undefined], // a wildcard does not cover its own parent
    ['nothing.test', undefined],
  ];
  for (const [host, expected] of cases) {
    it(`${host} -> ${expected}`, () => assert.equal(lookupExactThenWildcard(host, exact, wild), expected));
  }
});
