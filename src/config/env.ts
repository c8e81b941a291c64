/**
 * Environment variables that override keys of every config the edge validates (start, reloads, admin API
 * writes, --check-config alike), so a container image or a unit file can set its ports without editing the
 * mounted config: the file keeps its own values (writes never copy the variables into it). The config file
 * itself comes from IDCS_EDGE_CONFIG when --config is not given (cli.ts). An empty variable is ignored.
 */
import { ConfigError, ErrorCodes, type ConfigIssue } from '../errors.ts';
import { parseAdminListen } from '../admin/config.ts';

/** Variable -> the config key it overrides (README "Environment variables" lists the same). */
export const ENV_OVERRIDES = {
  IDCS_EDGE_HTTP_PORT: 'listen.http',
  IDCS_EDGE_HTTPS_PORT: 'listen.https',
  IDCS_EDGE_ADMIN_LISTEN: 'admin.listen',
} as const;

type Env = Readonly<Record<string, string | undefined>>;
type Doc = Record<string, unknown>;

function port(name: string, v: string, issues: ConfigIssue[]): number | undefined {
  if (/^\d{1,5}$/.test(v) && Number(v) <= 65535) return Number(v);
  issues.push({ path: name, message: `expected a port number 0-65535 (0 disables the listener), not ${JSON.stringify(v)}` });
  return undefined;
}

/**
 * `doc` (a parsed config document) with the overrides of `env` applied, as a new object; throws
 * ConfigError EDGE_ERR_CONFIG_INVALID naming the variable when a value cannot be what its key needs.
 */
export function withEnvOverrides(doc: unknown, env: Env = process.env): unknown {
  const http = env.IDCS_EDGE_HTTP_PORT || undefined;
  const https = env.IDCS_EDGE_HTTPS_PORT || undefined;
  const admin = env.IDCS_EDGE_ADMIN_LISTEN || undefined;
  if ((http === undefined && https === undefined && admin === undefined) || typeof doc !== 'object' || doc === null || Array.isArray(doc)) return doc;
  const issues: ConfigIssue[] = [];
  const out: Doc = { ...(doc as Doc) };
  const section = (key: string): Doc => {
    const v = out[key];
    return (out[key] = typeof v === 'object' && v !== null && !Array.isArray(v) ? { ...(v as Doc) } : {}) as Doc;
  };
  if (http !== undefined) section('listen').http = port('IDCS_EDGE_HTTP_PORT', http, issues);
  if (https !== undefined) section('listen').https = port('IDCS_EDGE_HTTPS_PORT', https, issues);
  if (admin !== undefined) {
    if (parseAdminListen(admin) === null) {
      issues.push({ path: 'IDCS_EDGE_ADMIN_LISTEN', message: `expected host:port (127.0.0.1:8081, [::1]:8081) or unix:/path/to/admin.sock, not ${JSON.stringify(admin)}` });
    }
    section('admin').listen = admin;
  }
  if (issues.length > 0) {
    throw new ConfigError(ErrorCodes.CONFIG_INVALID, `invalid environment:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`, { issues });
  }
  return out;
}
