/** A logger whose JSON lines are collected in memory, so tests assert on what an operator would read. */
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log.ts';

export function memoryLogger(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
      cb();
    },
  });
  return { log: createLogger({ level: 'debug', file: null, stdout: false, stream: sink }).log, lines };
}
