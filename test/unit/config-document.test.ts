import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { createHash } from 'node:crypto';
import { canonicalJson, hashCanonical, parseConfigDocument, sameData } from '../../src/config/document.ts';

const YAML = `# top comment
listen:
  http: 8080 # the port
# the proxies
proxies:
  # first
  - domain: a.example.com
    target: 10.0.0.1
  # second, kept
  - domain: "*.b.example.com"
    owner: user1
    errorPages:
      502: ./pages/502.html
trustedProxies: [10.0.0.0/8]
`;

describe('config document editing', () => {
  it('writes an unchanged YAML document as it was, and again after an edit', () => {
    const d = parseConfigDocument(YAML, 'edge.yaml');
    const same = d.edit(d.value);
    assert.equal(same.text, YAML);
    assert.equal(same.edit(same.value).text, YAML, 'the model handed on is the file\'s');
    assert.equal(d.edit(d.value).text, YAML, 'an edited document parses its text again');
  });

  it('changes only what changed: comments, quoting and kept items stay, wherever the items move', () => {
    const d = parseConfigDocument(YAML, 'edge.yaml');
    const v = structuredClone(d.value) as { proxies: Array<Record<string, unknown>>; listen: { http: number } };
    v.listen.http = 80;
    v.proxies = [v.proxies[1]!, { domain: 'c.example.com', target: '10.0.0.3', note: 'true' }];
    (v.proxies[0]!.errorPages as Record<string, string>)['502'] = './pages/bad.html';
    const edited = d.edit(v);
    const { text } = edited;
    assert.deepEqual(edited.value, v);
    assert.deepEqual(parse(text), v, 'the text says what was asked');
    for (const kept of ['# top comment', 'http: 80 # the port', '# the proxies', '# second, kept', 'domain: "*.b.example.com"', '[10.0.0.0/8]']) {
      assert.ok(text.includes(kept), `${kept}:\n${text}`);
    }
    assert.ok(!text.includes('a.example.com') && !text.includes('# first'));
    assert.ok(text.includes('note: "true"'), 'a string that reads as a boolean is quoted');
    assert.ok(text.indexOf('*.b.example.com') < text.indexOf('c.example.com'));
  });

  it('keeps JSON as JSON with its indentation, and writes an empty file', () => {
    const d = parseConfigDocument('{\n    "proxies": []\n}\n', 'edge.json');
    assert.equal(d.edit({ proxies: [{ domain: 'a.example.com' }] }).text, '{\n    "proxies": [\n        {\n            "domain": "a.example.com"\n        }\n    ]\n}\n');
    assert.deepEqual(parse(parseConfigDocument('', 'edge.yaml').edit({ vms: [] }).text), { vms: [] });
  });

  it('has an ETag that follows the values, not comments or key order', () => {
    const a = parseConfigDocument('a: 1\nb: [x]\n', 'e.yaml');
    assert.equal(parseConfigDocument('# note\nb: [x] # x\na: 1\n', 'e.yaml').etag, a.etag);
    assert.notEqual(parseConfigDocument('a: 2\nb: [x]\n', 'e.yaml').etag, a.etag);
    assert.equal(parseConfigDocument('{"b":["x"],"a":1}', 'e.json').etag, a.etag, 'the same document in JSON');
  });
});

describe('comparing and hashing document values without building their text', () => {
  const values: Array<[string, unknown]> = [
    ['null', null],
    ['a number', 1.5],
    ['a string with quotes and non-ASCII', 'a "b" é'],
    ['an array with holes JSON writes as null', [1, undefined, 'a', { b: 1, a: [null, true] }]],
    ['an object with keys out of order and an undefined value', { z: 1, a: undefined, m: { y: 'é', x: [] } }],
    ['a value with toJSON (a Date)', { when: new Date(0) }],
    ['an empty object and array', { o: {}, l: [] }],
  ];
  for (const [what, v] of values) {
    it(`hashCanonical feeds the hash exactly canonicalJson's text: ${what}`, () => {
      const h = createHash('sha256');
      hashCanonical(h, v);
      assert.equal(h.digest('hex'), createHash('sha256').update(canonicalJson(v)).digest('hex'));
    });
  }
  it('hashCanonical over more than its 64 KiB piece', () => {
    const v = { proxies: Array.from({ length: 3000 }, (_, i) => ({ domain: `r${i}.example.com`, targetPort: i })) };
    const h = createHash('sha256');
    hashCanonical(h, v);
    assert.equal(h.digest('hex'), createHash('sha256').update(canonicalJson(v)).digest('hex'));
  });

  const pairs: Array<[string, unknown, unknown, boolean]> = [
    ['key order', { a: 1, b: [1, { c: 2, d: 3 }] }, { b: [1, { d: 3, c: 2 }], a: 1 }, true],
    ['a changed leaf', { a: { b: 1 } }, { a: { b: 2 } }, false],
    ['an extra key', { a: 1 }, { a: 1, b: 2 }, false],
    ['array order matters', [1, 2], [2, 1], false],
    ['an array is not an object', { 0: 'x' }, ['x'], false],
    ['null and an object', null, {}, false],
  ];
  for (const [what, a, b, want] of pairs) {
    it(`sameData agrees with canonicalJson: ${what}`, () => {
      assert.equal(sameData(a, b), want);
      assert.equal(canonicalJson(a) === canonicalJson(b), want);
    });
  }
});
