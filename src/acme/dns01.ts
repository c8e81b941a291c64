/**
 * DNS-01 (RFC 8555 section 8.4) through an operator-supplied executable, the only way to prove control of a
 * wildcard name. The hook is called `set <_acme-challenge.name> <value>` and `clear <name> <value>` and must
 * exit 0 only once the record is published (propagation is the hook's business: it knows the provider).
 * The value is passed to `clear` too, because a name and its wildcard share one record name and may hold
 * two TXT values at once.
 * The hook runs in a process group of its own: at its timeout, or when the attempt is abandoned
 * (shutdown), the whole group is killed, so a `sleep` or a provider CLI the hook started does not outlive
 * it. The call settles when the hook exits, not when its output pipes close (a background child may hold
 * them open).
 */
import { spawn } from 'node:child_process';
import type { Logger } from '../log.ts';
import { AcmeError, AcmeErrorCodes } from './errors.ts';

export interface DnsHook {
  /** Runs `set`; rejects with AcmeError(EDGE_ERR_ACME_DNS), or with the signal's reason once it aborts (the hook is killed). */
  set(recordName: string, value: string, signal?: AbortSignal): Promise<void>;
  clear(recordName: string, value: string, signal?: AbortSignal): Promise<void>;
}

/** `*.user1.example.com` and `user1.example.com` both prove control through `_acme-challenge.user1.example.com`. */
export function dnsRecordName(identifier: string): string {
  return `_acme-challenge.${identifier.replace(/^\*\./, '')}`;
}

const MAX_OUTPUT = 4_096;
/** After the hook exits, how long its output may still arrive before the pipes are closed. */
const DRAIN_MS = 200;

/** SIGKILL to the process group led by `pid` (the hook and whatever it started); gone already is fine. */
function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: nothing left in the group.
  }
}

/** Runs `hookPath` per call with a timeout; failures are AcmeError(EDGE_ERR_ACME_DNS) carrying the hook's stderr. */
export function createDnsHook(opts: { hookPath: string; timeoutMs: number; log: Logger }): DnsHook {
  const run = (action: 'set' | 'clear', recordName: string, value: string, signal?: AbortSignal) => new Promise<void>((resolve, reject) => {
    signal?.throwIfAborted();
    const domain = recordName.replace(/^_acme-challenge\./, '');
    // detached: the hook leads a new process group (setsid), which killGroup can end as a whole.
    const child = spawn(opts.hookPath, [action, recordName, value], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let why: string | null = null;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => { stderr = (stderr + c).slice(-MAX_OUTPUT); });
    const stop = (reason: string) => {
      why ??= reason;
      killGroup(child.pid);
    };
    const timer = setTimeout(() => stop(`timed out after ${opts.timeoutMs} ms (acme.dnsHookTimeoutMs)`), opts.timeoutMs);
    const onAbort = () => stop('abandoned');
    signal?.addEventListener('abort', onAbort, { once: true });
    const settle = (err: Error | null) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (signal?.aborted) {
        reject(signal.reason);
      } else if (err) {
        reject(new AcmeError(AcmeErrorCodes.DNS, domain, `DNS hook ${opts.hookPath} ${action} ${recordName} ${err.message}`, { cause: err }));
      } else {
        opts.log.debug({ action, recordName }, 'dns hook done');
        resolve();
      }
    };
    child.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') settle(new Error('not found', { cause: err }));
      else if (err.code === 'EACCES') settle(new Error('not executable (chmod +x?)', { cause: err }));
      else settle(err);
    });
    child.once('exit', (code, sig) => {
      // A killed hook's children go with it; the output that is still on its way gets a moment.
      if (why !== null) killGroup(child.pid);
      const finish = () => {
        clearTimeout(drained);
        const out = stderr.trim();
        const tail = out ? `: ${out.length >= MAX_OUTPUT ? '…' : ''}${out}` : '';
        if (why !== null) settle(new Error(`${why}${tail}`));
        else if (sig) settle(new Error(`killed by ${sig}${tail}`));
        else if (code !== 0) settle(new Error(`exited with status ${code}${tail}`));
        else settle(null);
      };
      const drained = setTimeout(() => child.stderr.destroy(), DRAIN_MS);
      drained.unref();
      if (child.stderr.closed) finish();
      else child.stderr.once('close', finish);
    });
  });
  return {
    set: (recordName, value, signal) => run('set', recordName, value, signal),
    clear: (recordName, value, signal) => run('clear', recordName, value, signal),
  };
}
