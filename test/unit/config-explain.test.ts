/**
 * Config problems as an operator reads them: the line each is on (YAML and JSON), a suggestion for a
 * misspelt key, the proxy's domain next to its index, and a warning for a template whose owner has no VM.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configWarnings } from '../../src/config/check.ts';
import { issueLine, suggestKey } from '../../src/config/explain.ts';
import { parseConfigText, validateConfig } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';

function problems(text: string, name = 'edge.yaml') {
  try {
    validateConfig(parseConfigText(text, name), { file: name, text });
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e;
  }
  assert.fail('the config was accepted');
}

describe('config problems', () => {
  it('carry their line, a key suggestion and the proxy domain, in YAML', () => {
    const e = problems([
      'listen:',
      '  http: 8080',
      'proxies:',
      '  - domain: app.example.com',
      '    target: 10.0.0.5',
      '  - domain: shop.example.com',
      '    target: 10.0.0.6',
      '    tragetPort: 8080',
      '    targetPort: 99999',
      'proxys: []',
    ].join('\n'));
    assert.deepEqual(e.issues.map((i) => [i.line, i.where ?? i.path, i.message]).sort(), [
      [10, '(root)', 'unknown key: proxys (did you mean proxies?)'],
      [8, 'proxies[1] (shop.example.com)', 'unknown key: tragetPort (did you mean targetPort?)'],
      [9, 'proxies[1] (shop.example.com).targetPort', 'expected 1-65535'],
    ].sort());
    assert.match(e.message, /^ {2}line 9: proxies\[1\] \(shop\.example\.com\)\.targetPort: expected 1-65535$/m);
    // The path stays machine-readable (the API returns it as is).
    assert.ok(e.issues.some((i) => i.path === 'proxies[1].targetPort'));
  });

  it('carry their line in JSON too', () => {
    const e = problems('{\n  "proxies": [\n    { "domain": "a.example.com", "target": "10.0.0.5", "protocol": "ftp" }\n  ]\n}\n', 'edge.json');
    assert.deepEqual(e.issues.map((i) => [i.line, i.path]), [[3, 'proxies[0].protocol']]);
  });

  const suggestions: Array<[string, string[], string | undefined]> = [
    ['tragetPort', ['target', 'targetPort', 'protocol'], 'targetPort'],
    ['SSL', ['ssl', 'note'], 'ssl'],
    ['websockets', ['websocket', 'note'], 'websocket'],
    ['completely', ['ssl', 'note'], undefined],
  ];
  for (const [key, known, want] of suggestions) it(`suggests ${want} for ${key}`, () => assert.equal(suggestKey(key, known), want));

  it('warns about a template whose owner has no VM, and says so in words', () => {
    const c = validateConfig({ vms: [{ name: 'web1', owner: 'user1', ip: '10.0.0.5' }],
      proxies: [{ domain: '*.user1.example.com', owner: 'user1' }, { domain: '*.user2.example.com', owner: 'user2' }] });
    const w = configWarnings(c);
    assert.deepEqual(w.map((x) => x.path), ['proxies[1].owner']);
    assert.match(issueLine(w[0]!), /proxies\[1\] \(\*\.user2\.example\.com\)\.owner: user2 has no VM in the inventory/);
  });
});
