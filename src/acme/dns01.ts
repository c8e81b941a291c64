/**
 * DNS-01 (RFC 8555 section 8.4) through an operator-supplied executable, the only way to prove control of a
 * wildcard name. The hook is called `set <_acme-challenge.name> <value>` and `clear <name> <value>` and must
 * exit 0 only once the record is published (propagation is the hook's business: it knows the provider).
 * The value is passed to `clear` too, because a name and its wildcard share one record name and may hold
 * two TXT values at once.
 */
import { execFile } from 'node:child_process';
import type { Logger } from '../log.ts';
import { AcmeError, AcmeErrorCodes } from './errors.ts';

export interface DnsHook {
  set(recordName: string, value: string): Promise<void>;
  clear(recordName: string, value: string): Promise<void>;
}

/** `*.user1.example.com` and `user1.example.com` both prove control through `_acme-challenge.user1.example.com`. */
export function dnsRecordName(identifier: string): string {
  return `_acme-challenge.${identifier.replace(/^\*\./, '')}`;
}

const MAX_OUTPUT = 4_096;

function tail(s: string): string {
  const t = s.trim();
  return t.length > MAX_OUTPUT ? `…${t.slice(-MAX_OUTPUT)}` : t;
}

/** Runs `hookPath` per call with a timeout; failures are AcmeError(EDGE_ERR_ACME_DNS) carrying the hook's stderr. */
export function createDnsHook(opts: { hookPath: string; timeoutMs: number; log: Logger }): DnsHook {
  const run = (action: 'set' | 'clear', recordName: string, value: string) => new Promise<void>((resolve, reject) => {
    execFile(opts.hookPath, [action, recordName, value], { timeout: opts.timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1 << 20 },
      (err, _stdout, stderr) => {
        if (!err) {
          opts.log.debug({ action, recordName }, 'dns hook done');
          resolve();
          return;
        }
        const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: string | number; signal?: string | null };
        let why: string;
        if (e.code === 'ENOENT') why = 'not found';
        else if (e.code === 'EACCES') why = 'not executable (chmod +x?)';
        else if (e.killed) why = `timed out after ${opts.timeoutMs} ms (acme.dnsHookTimeoutMs)`;
        else if (e.signal) why = `killed by ${e.signal}`;
        else why = `exited with status ${String(e.code)}`;
        const err2 = tail(String(stderr ?? ''));
        reject(new AcmeError(AcmeErrorCodes.DNS, recordName.replace(/^_acme-challenge\./, ''),
          `DNS hook ${opts.hookPath} ${action} ${recordName} ${why}${err2 ? `: ${err2}` : ''}`, { cause: err }));
      });
  });
  return {
    set: (recordName, value) => run('set', recordName, value),
    clear: (recordName, value) => run('clear', recordName, value),
  };
}
