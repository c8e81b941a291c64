/**
 * Config file -> validated, path-resolved, deep-frozen EdgeConfig. YAML and JSON are both accepted (a
 * `.json` file is parsed as JSON; anything else as YAML, which JSON is a subset of).
 */
import { readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import jsyaml from 'js-yaml';
import { resolveAcmePaths } from '../acme/config.ts';
import { ConfigError, ErrorCodes } from '../errors.ts';
import { hostFileIssues } from '../fleet/split.ts';
import { resolveStoragePaths } from '../storage/config.ts';
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
    storage: resolveStoragePaths(c.storage, baseDir),
    ...(c.acme ? { acme: resolveAcmePaths(c.acme, baseDir) } : {}),
    ...(c.admin?.tokenFile ? { admin: { ...c.admin, tokenFile: abs(c.admin.tokenFile) } } : {}),
    // Only proxies that name files are copied: a table of 100,000 plain proxies is not duplicated.
    proxies: c.proxies.map((p) => (!p.certFile && !p.keyFile && !p.upstreamTls?.caFile && !p.errorPages ? p : {
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

/**
 * Parses config text; `name` decides JSON vs YAML and appears in errors. YAML is read with js-yaml's core
 * schema (YAML 1.2: no timestamps, no merge keys, what the `yaml` package's default schema reads): measured
 * on a 100,000-proxy file (10 MB) it parses in 0.3 s and 170 MB where the `yaml` package's document model
 * takes 4 s and 900 MB, and every apply reads the whole file. The `yaml` package still does what needs
 * the document model: comment-keeping edits (config/document.ts) and the line of a schema problem (explain.ts).
 */
export function parseConfigText(text: string, name: string): unknown {
  try {
    if (extname(name).toLowerCase() === '.json') return JSON.parse(text);
    return jsyaml.load(text, { schema: jsyaml.CORE_SCHEMA, filename: name });
  } catch (err) {
    const mark = err instanceof jsyaml.YAMLException ? (err as jsyaml.YAMLException & { mark?: { line: number; column: number } }).mark : undefined;
    const where = mark ? ` (line ${mark.line + 1}, column ${mark.column + 1})` : '';
    const why = err instanceof jsyaml.YAMLException ? err.reason : (err as Error).message.split('\n')[0];
    throw new ConfigError(ErrorCodes.CONFIG_READ, `cannot parse ${name}${where}: ${why}`, { file: name, cause: err });
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

/**
 * Parses an edge's own file: with `config.source: redis` the fleet's keys are refused here, naming each
 * (they live in the fleet document). Throws ConfigError EDGE_ERR_CONFIG_READ or EDGE_ERR_CONFIG_INVALID.
 */
export function parseEdgeFile(text: string, file: string): unknown {
  const doc = parseConfigText(text, file);
  const misplaced = hostFileIssues(doc);
  if (misplaced.length) {
    throw new ConfigError(ErrorCodes.CONFIG_INVALID, `invalid config in ${file}:\n${misplaced.map(issueLine).join('\n')}`, { file, issues: misplaced });
  }
  return doc;
}

/** Reads, parses and validates a config file (problems carry their line). */
export function loadConfigFile(file: string, baseDir: string = process.cwd()): EdgeConfig {
  const text = readConfigText(file);
  return validateConfig(parseEdgeFile(text, file), { file, baseDir, text });
}
