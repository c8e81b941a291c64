/**
 * The pino factory. Nothing else imports pino. Logs go to stdout and, when `log.file` is set, to that file
 * too (directory created). Secrets are redacted by path so that a careless field never leaks a key.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import pino from 'pino';

export type Logger = pino.Logger;
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

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
}

/** Builds the root logger. Call `flush()` on the returned handle before exit. */
export function createLogger(opts: LogOptions): { log: Logger; close(): void } {
  const streams: pino.StreamEntry[] = [];
  const owned: Array<ReturnType<typeof pino.destination>> = [];
  if (opts.stdout !== false) {
    const out = pino.destination({ dest: 1, sync: true });
    streams.push({ stream: out, level: opts.level === 'silent' ? 'fatal' : opts.level });
  }
  if (opts.file) {
    mkdirSync(dirname(opts.file), { recursive: true });
    const f = pino.destination({ dest: opts.file, sync: false, mkdir: true });
    owned.push(f);
    streams.push({ stream: f, level: opts.level === 'silent' ? 'fatal' : opts.level });
  }
  if (opts.stream) streams.push({ stream: opts.stream, level: opts.level === 'silent' ? 'fatal' : opts.level });
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
    close() {
      for (const f of owned) {
        try { f.flushSync(); } catch { /* destination not ready yet: nothing to flush */ }
        f.end();
      }
    },
  };
}

/** A logger that drops everything (CLI commands that print their own output, unit tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
