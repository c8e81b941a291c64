/**
 * Keys that take effect only when the edge restarts, declared once. An apply that changes one keeps the
 * running value, applies everything else, and reports the key (a warning in the log, `restartRequired` in
 * the apply result). The README's list is checked against this one by a test.
 */
import type { EdgeConfig } from './schema.ts';

/**
 * Key paths, `listen` meaning the whole section. Why each: the listening sockets are shared by every
 * worker and bound once (listen); the process layout is fixed at start (workers); the demo VM is a start-up
 * convenience (demo); the certificate store and token folder are where every process of the edge meets
 * (certs.dir, acme.challengeDir); the log file, stdout's log format and the traffic database are set up
 * once (log.file, log.format, data.dir); the cron job is made once (renewal.schedule, renewal.timezone); the admin listener and its
 * token are made once (admin); node:tls fixes the handshake deadline when the HTTPS server is made
 * (timeouts.tlsHandshakeMs); the storage is opened once per process, and where the rules come from is
 * decided with it (storage, config).
 */
export const RESTART_ONLY = ['listen', 'workers', 'demo', 'certs.dir', 'acme.challengeDir', 'log.file', 'log.format', 'data.dir', 'renewal.schedule',
  'renewal.timezone', 'admin', 'timeouts.tlsHandshakeMs', 'storage', 'config'] as const;

type Path = (typeof RESTART_ONLY)[number];

function get(c: EdgeConfig, path: Path): unknown {
  let v: unknown = c;
  for (const k of path.split('.')) v = v === undefined || v === null ? undefined : (v as Record<string, unknown>)[k];
  return v;
}

function set(c: Record<string, unknown>, path: Path, value: unknown): void {
  const keys = path.split('.');
  let o = c;
  for (const k of keys.slice(0, -1)) {
    const inner = o[k];
    if (inner === undefined || inner === null) return;
    o = (o[k] = { ...(inner as Record<string, unknown>) });
  }
  const last = keys[keys.length - 1]!;
  if (value === undefined) delete o[last];
  else o[last] = value;
}

/**
 * The config to run when `next` replaces `running`: `next` with the running value of every restart-only key,
 * and the keys whose value differed. Without a running config (start), `next` as it is.
 */
export function withRunningValues(next: EdgeConfig, running: EdgeConfig | null): { config: EdgeConfig; restartRequired: string[] } {
  if (running === null) return { config: next, restartRequired: [] };
  const restartRequired: string[] = [];
  const out = { ...next } as Record<string, unknown>;
  for (const path of RESTART_ONLY) {
    const was = get(running, path);
    if (JSON.stringify(was) === JSON.stringify(get(next, path))) continue;
    restartRequired.push(path);
    set(out, path, was);
  }
  return { config: out as EdgeConfig, restartRequired };
}
