/**
 * Config file -> validated, path-resolved, deep-frozen EdgeConfig. YAML and JSON are both accepted (a
 * `.json` file is parsed as JSON; anything else as YAML, which JSON is a subset of).
 */
import { readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { resolveAcmePaths } from '../acme/config.ts';
import { ConfigError, ErrorCodes, type ConfigIssue } from '../errors.ts';
import { configSchema, type EdgeConfig } from './schema.ts';

/** `['proxies', 2, 'targetPort']` -> `proxies[2].targetPort`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out || '(root)';
}

function issuesOf(err: z.ZodError): ConfigIssue[] {
  return err.issues.map((i) => {
    let message = i.message;
    if (i.code === 'unrecognized_keys') message = `unknown key${i.keys.length > 1 ? 's' : ''}: ${i.keys.join(', ')}`;
    return { path: formatPath(i.path), message };
  });
}

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

/** Validates an already-parsed document. Throws ConfigError(EDGE_ERR_CONFIG_INVALID) listing every problem. */
export function validateConfig(doc: unknown, opts: { file?: string; baseDir?: string } = {}): EdgeConfig {
  const parsed = configSchema.safeParse(doc ?? {});
  if (!parsed.success) {
    const issues = issuesOf(parsed.error);
    throw new ConfigError(ErrorCodes.CONFIG_INVALID,
      `invalid config${opts.file ? ` in ${opts.file}` : ''}:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`,
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

/** Reads and parses a config file (YAML, or JSON for `.json`); throws ConfigError EDGE_ERR_CONFIG_READ. */
export function readConfigDocument(file: string): unknown {
  return parseConfigText(readConfigText(file), file);
}

/** Reads, parses and validates a config file. */
export function loadConfigFile(file: string, baseDir: string = process.cwd()): EdgeConfig {
  return validateConfig(readConfigDocument(file), { file, baseDir });
}
