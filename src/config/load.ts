/**
 * Config file -> validated, path-resolved, deep-frozen EdgeConfig. YAML and JSON are both accepted (a
 * `.json` file is parsed as JSON; anything else as YAML, which JSON is a subset of).
 */
import { readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { resolveAcmePaths } from '../acme/config.ts';
import { ConfigError, ErrorCodes } from '../errors.ts';
import { withEnvOverrides } from './env.ts';
import { explainIssues, issueLine } from './explain.ts';
import { configSchema, type EdgeConfig } from './schema.ts';

export { formatPath } from './explain.ts';

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/** Relative paths in the config are resolved against `baseDir` (the working directory, as nginx and Caddy do). */
function resolvePaths(c: EdgeConfig, baseDir: string): EdgeConfig {
  const abs = (p: string) => resolve(baseDir, p);
  return {
    ...c,
    certs: { ...c.certs, dir: abs(c.certs.dir) },
    data: { ...c.data, dir: abs(c.data.dir) },
    log: { ...c.log, file: c.log.file === null ? null : abs(c.log.file) },
    ...(c.acme ? { acme: resolveAcmePaths(c.acme, baseDir) } : {}),
    ...(c.admin?.tokenFile ? { admin: { ...c.admin, tokenFile: abs(c.admin.tokenFile) } } : {}),
    proxies: c.proxies.map((p) => ({
      ...p,
      ...(p.certFile ? { certFile: abs(p.certFile) } : {}),
      ...(p.keyFile ? { keyFile: abs(p.keyFile) } : {}),
      ...(p.upstreamTls ? { upstreamTls: { ...p.upstreamTls, ...(p.upstreamTls.caFile ? { caFile: abs(p.upstreamTls.caFile) } : {}) } } : {}),
      ...(p.errorPages ? { errorPages: Object.fromEntries(Object.entries(p.errorPages).map(([k, f]) => [k, abs(f)])) } : {}),
    })),
  };
}

/**
 * Validates an already-parsed document, with the environment's overrides applied (env.ts). Throws
 * ConfigError(EDGE_ERR_CONFIG_INVALID) listing every problem; with the document's source `text`, each
 * problem also carries its line.
 */
export function validateConfig(doc: unknown, opts: { file?: string; baseDir?: string; text?: string } = {}): EdgeConfig {
  // IDCS_EDGE_HTTP_PORT and friends (env.ts) win over the document, whoever brings it.
  const overridden = withEnvOverrides(doc ?? {});
  const parsed = configSchema.safeParse(overridden);
  if (!parsed.success) {
    const issues = explainIssues(parsed.error, configSchema, overridden, opts.text);
    throw new ConfigError(ErrorCodes.CONFIG_INVALID,
      `invalid config${opts.file ? ` in ${opts.file}` : ''}:\n${issues.map(issueLine).join('\n')}`,
      { ...(opts.file ? { file: opts.file } : {}), issues });
  }
  return deepFreeze(resolvePaths(parsed.data, opts.baseDir ?? process.cwd()));
}

/** Parses config text; `name` decides JSON vs YAML and appears in errors. */
export function parseConfigText(text: string, name: string): unknown {
  try {
    if (extname(name).toLowerCase() === '.json') return JSON.parse(text);
    return parseYaml(text, { prettyErrors: true });
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` (line ${err.linePos[0].line}, column ${err.linePos[0].col})` : '';
    throw new ConfigError(ErrorCodes.CONFIG_READ, `cannot parse ${name}${where}: ${(err as Error).message.split('\n')[0]}`,
      { file: name, cause: err });
  }
}

/** Reads a config file's text; throws ConfigError EDGE_ERR_CONFIG_READ. */
export function readConfigText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(ErrorCodes.CONFIG_READ,
      code === 'ENOENT' ? `config file not found: ${file}` : `cannot read config file ${file}: ${(err as Error).message}`,
      { file, cause: err });
  }
}

/** Reads, parses and validates a config file (problems carry their line). */
export function loadConfigFile(file: string, baseDir: string = process.cwd()): EdgeConfig {
  const text = readConfigText(file);
  return validateConfig(parseConfigText(text, file), { file, baseDir, text });
}
