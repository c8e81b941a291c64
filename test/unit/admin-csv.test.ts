import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CsvError, parseProxyCsv } from '../../src/admin/csv.ts';

const HEADER = 'domain,target,target_port,protocol,ssl,cert_source,websocket,note';

function issuesOf(csv: string): Array<[number | null, string | null]> {
  try {
    parseProxyCsv(csv);
  } catch (err) {
    assert.ok(err instanceof CsvError);
    return err.issues.map((i) => [i.line, i.column]);
  }
  return [];
}

describe('proxies CSV', () => {
  it('reads rows into proxies: empty cells use the defaults, owner:<name> makes a template, booleans in words', () => {
    const rows = parseProxyCsv(`\uFEFF${HEADER}\r\n`
      + 'App.Example.com,10.0.0.5,8080,https,YES,letsencrypt,0,"shop, ""new"""\r\n'
      + '*.user1.example.com,owner:User1,,,,,,\r\n');
    assert.deepEqual(rows, [
      { line: 2, proxy: { domain: 'App.Example.com', target: '10.0.0.5', targetPort: 8080, protocol: 'https', ssl: true, certSource: 'letsencrypt', websocket: false, note: 'shop, "new"' } },
      { line: 3, proxy: { domain: '*.user1.example.com', owner: 'User1' } },
    ]);
  });

  it('accepts the columns in any order, and counts lines across quoted newlines and empty lines', () => {
    const rows = parseProxyCsv('note,domain,target,target_port,protocol,ssl,cert_source,websocket\n"two\nlines",a.example.com,10.0.0.1,,,,,\n\n,b.example.com,10.0.0.2,,,,,\n');
    assert.deepEqual(rows.map((r) => [r.line, r.proxy.domain, r.proxy.note]), [[2, 'a.example.com', 'two\nlines'], [5, 'b.example.com', undefined]]);
  });

  const cases: Array<[string, string, Array<[number | null, string | null]>]> = [
    ['no header', '', [[1, null]]],
    ['a missing column', 'domain,target\n', [[1, null]]],
    ['an unknown column', `${HEADER},colour\n`, [[1, null]]],
    ['a bad port', `${HEADER}\na.example.com,10.0.0.1,http,,,,,\n`, [[2, 'target_port']]],
    ['a port out of range', `${HEADER}\na.example.com,10.0.0.1,70000,,,,,\n`, [[2, 'target_port']]],
    ['a bad boolean', `${HEADER}\na.example.com,10.0.0.1,,,maybe,,nope,\n`, [[2, 'ssl'], [2, 'websocket']]],
    ['no target', `${HEADER}\na.example.com,,,,,,,\n`, [[2, 'target']]],
    ['an empty owner', `${HEADER}\n*.a.example.com,owner:,,,,,,\n`, [[2, 'target']]],
    ['a bad domain', `${HEADER}\nnot a domain,10.0.0.1,,,,,,\n`, [[2, 'domain']]],
    ['a bad cert source', `${HEADER}\na.example.com,10.0.0.1,,,true,acme,,\n`, [[2, 'cert_source']]],
    ['an upload (needs files)', `${HEADER}\na.example.com,10.0.0.1,,,true,upload,,\n`, [[2, 'cert_source'], [2, 'cert_source']]],
    ['a duplicate domain', `${HEADER}\na.example.com,10.0.0.1,,,,,,\nA.example.com.,10.0.0.2,,,,,,\n`, [[3, 'domain']]],
    ['too few fields', `${HEADER}\na.example.com,10.0.0.1\n`, [[2, null]]],
    ['an unclosed quote', `${HEADER}\na.example.com,10.0.0.1,,,,,,"open\n`, [[2, null]]],
    ['every bad row at once', `${HEADER}\na.example.com,10.0.0.1,x,,,,,\nb.example.com,10.0.0.1,,ftp,,,,\nc.example.com,10.0.0.1,,,,,,\n`,
      [[2, 'target_port'], [3, 'protocol']]],
  ];
  for (const [what, csv, want] of cases) {
    it(`reports ${what} by line and column`, () => assert.deepEqual(issuesOf(csv), want));
  }
});
