/**
 * The terminal's log line (pure): pino's JSON line in, `time LEVEL message key=value` out. The colour
 * function is injected, so the table checks which parts get which style without a terminal.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { prettyLine } from '../../src/log-pretty.ts';

const plain = { color: (_s: unknown, text: string) => text };
/** Marks each styled part as <style:text>, so the table can see what is coloured how. */
const marked = { color: (s: unknown, text: string) => `<${Array.isArray(s) ? s.join('+') : String(s)}:${text}>` };

const TIME = '2026-12-01T12:40:57.020Z';

describe('prettyLine', () => {
  const cases: Array<{ name: string; line: string; opts?: typeof plain; want: string }> = [
    { name: 'an info line with fields', line: JSON.stringify({ level: 30, time: TIME, pid: 7, hostname: 'h', msg: 'idcs-edge listening', http: 80, https: 443 }),
      want: '12:40:57.020 INFO  idcs-edge listening http=80 https=443\n' },
    { name: 'a string with spaces is quoted, objects are JSON', line: JSON.stringify({ level: 40, time: Date.parse(TIME), msg: 'x', why: 'two words', o: { a: 1 } }),
      want: '12:40:57.020 WARN  x why="two words" o={"a":1}\n' },
    { name: 'an access line', line: JSON.stringify({ level: 30, time: TIME, msg: 'access', status: 200, method: 'GET', host: 'app.example.com', path: '/hello', ms: 1.2, bytes: 5, vm: 'web1' }),
      want: '12:40:57.020 INFO  200 GET app.example.com/hello 1.2 ms 5 B vm=web1\n' },
    { name: 'a line that is not JSON passes through with a newline', line: 'not json', want: 'not json\n' },
    { name: 'an error line colours the level, the message bold, the code like the level', opts: marked,
      line: JSON.stringify({ level: 50, time: TIME, msg: 'boom', code: 'EDGE_ERR_X' }),
      want: '<dim:12:40:57.020> <red:ERROR> <bold:boom> <dim:code=><red:EDGE_ERR_X>\n' },
    { name: 'a 502 access line has its status in red', opts: marked,
      line: JSON.stringify({ level: 30, time: TIME, msg: 'access', status: 502, method: 'GET', host: 'a.example.com', path: '/' }),
      want: '<dim:12:40:57.020> <green:INFO > <red:502> GET a.example.com/\n' },
  ];
  for (const c of cases) {
    it(c.name, () => assert.equal(prettyLine(c.line, c.opts ?? plain), c.want));
  }
});
