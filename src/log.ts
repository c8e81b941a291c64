/**
 * The pino factory. Nothing else imports pino. Logs go to stdout and, when `log.file` is set, to that file
 * too (directory created). The file always gets JSON lines; stdout gets them as JSON too, or readable
 * (log-pretty.ts) when `log.format` says so (`auto`: readable on a terminal). Secrets are redacted by path so that a careless field never leaks a key.
 * The file can be reopened at its path (SIGUSR2, after logrotate moved it away) and is closed by flushing
 * and waiting for the descriptor to close; lines logged after that go to stdout only, never to a closed
 * destination (pino's SonicBoom throws "SonicBoom destroyed", which killed the process on a late line).
 */
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import pino from 'pino';
import { EdgeError, ErrorCodes } from './errors.ts';
import { prettyLine, stylerFor } from './log-pretty.ts';

export type Logger = pino.Logger;
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export type LogFormat = 'auto' | 'json' | 'pretty';

/** What `log.format` means for this process's stdout: `auto` is pretty on a terminal, JSON otherwise. */
export function stdoutFormat(format: LogFormat | undefined, stdout: { isTTY?: boolean } = process.stdout): 'json' | 'pretty' {
  return format === 'json' || format === 'pretty' ? format : stdout.isTTY ? 'pretty' : 'json';
}

export const REDACT_PATHS = [
  'key', 'keyPem', 'privateKey', 'accountKey', 'hmacKey', '*.key', '*.keyPem', '*.privateKey', '*.hmacKey',
  'eab.hmacKey', '*.eab.hmacKey', 'req.headers.authorization', 'req.headers.cookie', 'req.headers["proxy-authorization"]',
  'headers.authorization', 'headers.cookie', 'keyAuthorization', '*.keyAuthorization',
];

export interface LogOptions {
  level: LogLevel;
  /** Absolute path of the log file; null logs to stdout only. */
  file: string | null;
  /** Extra destination (tests collect lines here instead of reading stdout). */
  stream?: NodeJS.WritableStream;
  /** Also write to stdout (default true). */
  stdout?: boolean;
  /** How stdout shows the lines (default auto); the file and `stream` always get JSON. */
  format?: LogFormat;
}

/** The root logger and what the process does with its file. */
export interface LogHandle {
  readonly log: Logger;
  /** Opens the log file again at its path (after logrotate moved it); a no-op without a file. */
  reopen(): void;
  /** Writes what is buffered for the file now, synchronously: before an immediate exit. */
  flushSync(): void;
  /** Flushes and closes the file; resolves once its descriptor is closed. Idempotent. */
  close(): Promise<void>;
}

type Boom = ReturnType<typeof pino.destination>;

/**
 * Opens `file` for appending, or throws EdgeError EDGE_ERR_LOG saying why (a file where a folder should be,
 * no permission). Checked synchronously so that start-up fails with one clear line instead of an 'error'
 * event from the asynchronous destination later.
 */
function checkLogFile(file: string): void {
  try {
    mkdirSync(dirname(file), { recursive: true });
    closeSync(openSync(file, 'a'));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOTDIR' || e.code === 'EEXIST'
      ? `a file is in the way of the folder ${dirname(file)}`
      : e.code === 'EISDIR' ? `${file} is a folder` : e.code === 'EACCES' || e.code === 'EPERM' || e.code === 'EROFS'
        ? 'no permission to write there' : e.message;
    throw new EdgeError(ErrorCodes.LOG, `cannot open the log file ${file} (log.file): ${why} (${e.code ?? 'error'})`, { cause: err });
  }
}

/**
 * The log file as a multistream entry. Writes after close() are dropped (the same line still reaches
 * stdout). Write and reopen errors (a full disk, a folder removed) are reported once on `report` and do not
 * crash the process; the next successful write re-arms the report.
 */
function logFile(file: string, report: (err: Error) => void) {
  checkLogFile(file);
  const boom: Boom = pino.destination({ dest: file, sync: false, mkdir: true });
  let closed: Promise<void> | null = null;
  let failing = false;
  // SonicBoom opens asynchronously; until 'ready' there is no descriptor to flush or close.
  let ready = false;
  boom.once('ready', () => { ready = true; });
  boom.on('error', (err: Error) => {
    if (!failing) report(err);
    failing = true;
  });
  boom.on('write', () => { failing = false; });
  return {
    stream: { write: (s: string) => { if (!closed) boom.write(s); } },
    reopen() {
      if (!closed) boom.reopen();
    },
    flushSync() {
      if (closed || !ready) return;
      try { boom.flushSync(); } catch { /* a busy or failing descriptor: what is left goes on close */ }
    },
    close(): Promise<void> {
      closed ??= new Promise<void>((resolve) => {
        boom.once('close', () => resolve());
        // A destination that never opened has nothing to flush and emits no 'close'.
        boom.once('error', () => { if (!ready) resolve(); });
        boom.end();
      });
      return closed;
    },
  };
}

/** Builds the root logger. Call `close()` on the returned handle before exit (it waits for the file). */
export function createLogger(opts: LogOptions): LogHandle {
  const level = opts.level === 'silent' ? 'fatal' : opts.level;
  const streams: pino.StreamEntry[] = [];
  const stdout = opts.stdout !== false ? pino.destination({ dest: 1, sync: true }) : null;
  if (stdout) {
    const color = stylerFor(process.stdout);
    streams.push({ stream: stdoutFormat(opts.format) === 'pretty' ? { write: (s: string) => stdout.write(prettyLine(s, { color })) } : stdout, level });
  }
  // Problems with the file are told on the other destinations: logging them to the file would fail again.
  const others = () => pino({ base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.multistream(streams.filter((s) => s !== fileEntry)));
  const file = opts.file ? logFile(opts.file, (err) => others().error({ file: opts.file, err: err.message }, 'cannot write the log file: logging to stdout only until it works again')) : null;
  const fileEntry: pino.StreamEntry | null = file ? { stream: file.stream, level } : null;
  if (fileEntry) streams.push(fileEntry);
  if (opts.stream) streams.push({ stream: opts.stream, level });
  const log = pino(
    {
      level: opts.level,
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.multistream(streams),
  );
  return {
    log,
    reopen: () => file?.reopen(),
    flushSync: () => file?.flushSync(),
    close: () => file?.close() ?? Promise.resolve(),
  };
}

/** A logger that drops everything (CLI commands that print their own output, unit tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
