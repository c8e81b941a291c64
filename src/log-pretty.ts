/**
 * Log lines for a person at a terminal: pino's JSON line turned into `12:40:57.020 INFO  message key=value`,
 * the level in colour where the terminal has colours (node:util's styleText honours NO_COLOR, FORCE_COLOR
 * and a stream that is not a TTY), access lines as `200 GET host/path 1.2 ms`. Only stdout gets these; the
 * log file stays JSON. A line that is not JSON is passed through as it is.
 */
import { styleText } from 'node:util';

type Style = Parameters<typeof styleText>[0];

const LEVELS: Record<number, [string, Style]> = {
  10: ['TRACE', 'gray'], 20: ['DEBUG', 'gray'], 30: ['INFO ', 'green'], 40: ['WARN ', 'yellow'], 50: ['ERROR', 'red'], 60: ['FATAL', ['bgRed', 'white']],
};

/** Fields every line has (shown in their own places) or that a terminal does not need. */
const SHOWN = new Set(['level', 'time', 'pid', 'msg', 'hostname']);
/** Access lines: shown in the line itself. */
const ACCESS_SHOWN = new Set([...SHOWN, 'status', 'method', 'host', 'path', 'ms', 'bytes']);

function value(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
}

function statusStyle(status: number): Style {
  return status >= 500 ? 'red' : status >= 400 ? 'yellow' : status >= 300 ? 'cyan' : 'green';
}

/** One JSON log line (with or without its newline) as a readable line with a newline; `color` off gives plain text. */
export function prettyLine(line: string, opts: { color: (style: Style, text: string) => string }): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const c = opts.color;
  const time = typeof o.time === 'string' ? o.time.slice(11, 23) : typeof o.time === 'number' ? new Date(o.time).toISOString().slice(11, 23) : '';
  const [name, style] = LEVELS[o.level as number] ?? ['?    ', 'white'];
  let head: string;
  let skip = SHOWN;
  if (o.msg === 'access' && typeof o.status === 'number') {
    skip = ACCESS_SHOWN;
    const ms = typeof o.ms === 'number' ? ` ${o.ms} ms` : '';
    head = `${c(statusStyle(o.status), String(o.status))} ${value(o.method)} ${value(o.host)}${typeof o.path === 'string' ? o.path : ''}${ms}`
      + (typeof o.bytes === 'number' ? ` ${o.bytes} B` : '');
  } else {
    head = c('bold', String(o.msg ?? ''));
  }
  const rest: string[] = [];
  for (const [k, v] of Object.entries(o)) {
    if (skip.has(k) || v === undefined) continue;
    rest.push(`${c('dim', `${k}=`)}${k === 'err' || k === 'code' ? c(style, value(v)) : value(v)}`);
  }
  return `${c('dim', time)} ${c(style, name)} ${head}${rest.length ? ` ${rest.join(' ')}` : ''}\n`;
}

/** A styler for `stream`: colours only where it is a terminal that wants them. */
export function stylerFor(stream: NodeJS.WriteStream): (style: Style, text: string) => string {
  return (style, text) => styleText(style, text, { stream });
}
