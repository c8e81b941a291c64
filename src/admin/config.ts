/**
 * The `admin` section of the config: where the control API listens and how it is guarded. Mounted by
 * config/schema.ts at the top-level key `admin`; every key is restart-only (config/restart.ts), because the
 * listener and its token are made once at start.
 */
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { isValidHostname } from '../routing/host.ts';

/** Where the admin API listens: a TCP address, or a unix socket (reachable only through the file system). */
export type AdminAddress = { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string };

/** `127.0.0.1:8081`, `[::1]:8081`, `localhost:8081` or `unix:/run/idcs-edge/admin.sock`; null for anything else. Port 0 picks a free port. */
export function parseAdminListen(s: string): AdminAddress | null {
  if (s.startsWith('unix:')) {
    const path = s.slice('unix:'.length);
    return path.startsWith('/') && path.length > 1 ? { kind: 'unix', path } : null;
  }
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s.trim());
  if (!m) return null;
  const host = (m[1] ?? m[2]!).toLowerCase();
  const port = Number(m[3]);
  if (port > 65535) return null;
  if (m[1] !== undefined ? isIP(host) !== 6 : isIP(host) !== 4 && !isValidHostname(host)) return null;
  return { kind: 'tcp', host, port };
}

/** `host` or `host:port`, lower case: a name a browser may send in Host for the admin API. */
const allowedHost = z.string({ error: 'expected a host name, optionally with :port (admin.example.internal:8081)' })
  .trim().toLowerCase()
  .refine((s) => {
    const m = /^(?:\[([0-9a-f:.]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(s);
    if (!m || (m[3] !== undefined && (Number(m[3]) < 1 || Number(m[3]) > 65535))) return false;
    return m[1] !== undefined ? isIP(m[1]) === 6 : isIP(m[2]!) === 4 || isValidHostname(m[2]!);
  }, { error: 'expected a host name, optionally with :port (admin.example.internal:8081)' });

export const adminConfigSchema = z.strictObject({
  /** Absent: no admin listener. Never one of the public ports. */
  listen: z.string({ error: 'expected host:port (127.0.0.1:8081) or unix:/path/to/admin.sock' })
    .refine((s) => parseAdminListen(s) !== null, { error: 'expected host:port (127.0.0.1:8081, [::1]:8081) or unix:/path/to/admin.sock' })
    .optional(),
  /** Holds the bearer token; made with a random token (mode 0600) when missing. Default: admin.token beside the config file. */
  tokenFile: z.string().min(1, { error: 'expected the path of the token file' }).optional(),
  /** Host header values accepted besides the listener's own address (a name a reverse proxy in front uses). */
  allowedHosts: z.array(allowedHost).default([]),
  /** Largest request body accepted (a CSV import of 10,000 rows is about 1 MB). */
  maxBodyBytes: z.number({ error: 'expected a number of bytes' }).int().min(1024, { error: 'expected at least 1024' })
    .max(1_073_741_824, { error: 'expected at most 1073741824 (1 GiB)' }).default(16_777_216),
});

export type AdminConfig = z.output<typeof adminConfigSchema>;

/** The token file of `admin`: its `tokenFile` (already resolved by the loader), else admin.token beside the config file. */
export function tokenFileOf(admin: AdminConfig, configFile: string): string {
  return admin.tokenFile ?? join(dirname(configFile), 'admin.token');
}

/** Problems of the admin section that need the rest of the config: it must not take a public port. */
export function adminIssues(admin: AdminConfig | undefined, listen: { http: number; https: number }): Array<{ path: string[]; message: string }> {
  const at = admin?.listen === undefined ? null : parseAdminListen(admin.listen);
  if (at?.kind !== 'tcp' || at.port === 0) return [];
  if (at.port !== listen.http && at.port !== listen.https) return [];
  return [{ path: ['admin', 'listen'], message: `port ${at.port} is a public listener of the edge; the admin API needs a port of its own` }];
}
