/**
 * The apply pipeline: the only way a config takes effect, whoever brings it (start, the file watcher,
 * SIGHUP, the primary of a workers group, later the control API). One apply validates everything that can
 * fail (schema, uploads, CA files, page files, every part's preparation), builds the complete next state off
 * the request path, then swaps all of it at once, or nothing: a refused apply leaves every part as it was.
 * Applies never overlap. The result says what changed, so callers (the API) can return it.
 */
import { ConfigError, EdgeError, ErrorCodes, type ConfigIssue, type ErrorCode } from '../errors.ts';
import type { Logger } from '../log.ts';
import { buildRouteTable, type RouteTable } from '../routing/table.ts';
import { loadConfigFile, validateConfig } from './load.ts';
import { withRunningValues } from './restart.ts';
import type { EdgeConfig } from './schema.ts';

export type ApplySource = 'start' | 'file' | 'signal' | 'primary' | 'api' | 'redis';

/** What an apply changed (or, when refused, would have). */
export interface ApplyChanges {
  routesAdded: string[];
  routesRemoved: string[];
  routesChanged: string[];
  vmsAdded: string[];
  vmsRemoved: string[];
  /** Let's Encrypt names that have no certificate yet and were asked for. */
  certificatesRequested: string[];
  /** Restart-only keys that changed: the running values stay until a restart. */
  restartRequired: string[];
  /** Upgraded connections closed because their route went away or moved. */
  webSocketsClosed: number;
}

export interface ApplyResult {
  readonly ok: boolean;
  readonly source: ApplySource;
  /** Counts applies that took effect in this process (1 at start). */
  readonly version: number;
  readonly at: string;
  readonly changes?: ApplyChanges;
  readonly issues?: readonly ConfigIssue[];
  /** Valid but probably not meant (a template whose owner has no VM): applied, and reported. */
  readonly warnings?: readonly ConfigIssue[];
  readonly error?: { readonly code: string; readonly message: string };
}

/** What a part has built for the next config: swapped in by commit (which must not fail), or dropped. */
export interface Staged {
  commit(changes: ApplyChanges): void;
  abort(): void;
}

/** A component that follows the config: pools, certificates, the control plane, the live request state. */
export interface ConfigPart {
  readonly name: string;
  prepare(next: EdgeConfig, table: RouteTable, running: EdgeConfig | null): Staged | Promise<Staged>;
}

/**
 * A config as it arrives: a file to read, a parsed document to validate, a document made at apply time
 * (a fleet edge's file and the fleet document: what fails to make it is a refusal), or one the primary
 * already validated.
 */
export type ApplyInput = { readonly file: string } | { readonly document: unknown; readonly file?: string }
  | { readonly load: () => unknown; readonly file?: string } | { readonly config: EdgeConfig };

function validatedOf(input: ApplyInput): EdgeConfig {
  if ('config' in input) return input.config;
  if ('document' in input) return validateConfig(input.document, input.file ? { file: input.file } : {});
  if ('load' in input) return validateConfig(input.load(), input.file ? { file: input.file } : {});
  return loadConfigFile(input.file);
}

/** A prepared apply: nothing has changed yet; commit swaps it in, abort drops it. */
export interface PreparedApply {
  readonly config: EdgeConfig;
  commit(): ApplyResult;
  abort(): ApplyResult;
}

export interface Applier {
  apply(input: ApplyInput, source: ApplySource): Promise<ApplyResult>;
  /** The first half of apply, for two-phase applies across processes (workers). Refusals resolve to an ApplyResult. */
  prepare(input: ApplyInput, source: ApplySource): Promise<PreparedApply | ApplyResult>;
  /** The running config; null before the first apply. */
  current(): EdgeConfig | null;
  last(): ApplyResult | null;
}

export interface ApplierOptions {
  readonly parts: readonly ConfigPart[];
  /** Checks outside the schema that need files (uploads, CA files, page files); every issue is reported. */
  check(config: EdgeConfig): ConfigIssue[];
  /** What to warn about in a config that is applied anyway. */
  warn?(config: EdgeConfig): ConfigIssue[];
  readonly log: Logger;
  /** Told every outcome: applied, refused, or prepared and then aborted (metrics count them). */
  onResult?(result: ApplyResult, outcome: 'applied' | 'refused' | 'aborted'): void;
}

function emptyChanges(restartRequired: string[]): ApplyChanges {
  return { routesAdded: [], routesRemoved: [], routesChanged: [], vmsAdded: [], vmsRemoved: [], certificatesRequested: [],
    restartRequired, webSocketsClosed: 0 };
}

/** Route and VM differences between two configs, by domain and owner/name. */
/** Deep equality of two validated config values (plain data: no cycles, no class instances). */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (!same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  return true;
}

/** Route and VM differences between two configs, by domain and owner/name (no serialisation: 100,000 routes are compared in place). */
function diff(running: EdgeConfig | null, next: EdgeConfig, changes: ApplyChanges): void {
  const before = new Map((running?.proxies ?? []).map((p) => [p.domain, p]));
  for (const p of next.proxies) {
    const was = before.get(p.domain);
    if (was === undefined) changes.routesAdded.push(p.domain);
    else if (!same(was, p)) changes.routesChanged.push(p.domain);
    before.delete(p.domain);
  }
  changes.routesRemoved.push(...before.keys());
  const vmsBefore = new Set((running?.vms ?? []).map((v) => `${v.owner}/${v.name}`));
  for (const v of next.vms) if (!vmsBefore.delete(`${v.owner}/${v.name}`)) changes.vmsAdded.push(`${v.owner}/${v.name}`);
  changes.vmsRemoved.push(...vmsBefore);
}

/** The error a refused apply stands for (start-up turns a refusal into a failed start with this). */
export function refusalError(r: ApplyResult): EdgeError {
  const code = (r.error?.code ?? ErrorCodes.CONFIG_INVALID) as ErrorCode;
  const message = r.error?.message ?? 'the config was refused';
  if (code === ErrorCodes.CONFIG_READ || code === ErrorCodes.CONFIG_INVALID) return new ConfigError(code, message, { issues: [...(r.issues ?? [])] });
  return new EdgeError(code, message);
}

function refusal(source: ApplySource, version: number, err: unknown): ApplyResult {
  const at = new Date().toISOString();
  if (err instanceof ConfigError) return { ok: false, source, version, at, issues: err.issues, error: { code: err.code, message: err.message } };
  const code = err instanceof EdgeError ? err.code : ErrorCodes.CONFIG_INVALID;
  const message = (err as Error)?.message ?? String(err);
  return { ok: false, source, version, at, issues: [{ path: '(config)', message }], error: { code, message } };
}

export function createApplier(opts: ApplierOptions): Applier {
  const { parts, log } = opts;
  let running: EdgeConfig | null = null;
  let version = 0;
  let last: ApplyResult | null = null;
  // Applies run one at a time: each waits for the previous one to be committed or aborted.
  let queue: Promise<unknown> = Promise.resolve();

  const prepareOnce = async (input: ApplyInput, source: ApplySource): Promise<PreparedApply | ApplyResult> => {
    let config: EdgeConfig;
    let restartRequired: string[];
    const staged: Staged[] = [];
    try {
      ({ config, restartRequired } = withRunningValues(validatedOf(input), running));
      const issues = opts.check(config);
      if (issues.length > 0) {
        throw new ConfigError(ErrorCodes.CONFIG_INVALID, `invalid config:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`, { issues });
      }
      const table = buildRouteTable(config);
      for (const part of parts) staged.push(await part.prepare(config, table, running));
    } catch (err) {
      for (const s of staged.reverse()) s.abort();
      last = refusal(source, version, err);
      opts.onResult?.(last, 'refused');
      if (source !== 'start') {
        log.error({ source, code: last.error?.code, issues: last.issues },
          `config not applied, the running config keeps serving: ${last.error?.message.split('\n')[0] ?? ''}`);
      }
      return last;
    }
    let settled = false;
    return {
      config,
      commit() {
        if (settled) throw new Error('apply already settled');
        settled = true;
        const changes = emptyChanges(restartRequired);
        diff(running, config, changes);
        for (const s of staged) s.commit(changes);
        running = config;
        version++;
        if (restartRequired.length > 0) log.warn({ keys: restartRequired }, 'these keys changed but apply after a restart; the running values stay');
        log.info({ source, version, proxies: config.proxies.length, vms: config.vms.length, added: changes.routesAdded.length,
          removed: changes.routesRemoved.length, changed: changes.routesChanged.length, closedWebSockets: changes.webSocketsClosed }, 'config applied');
        const warnings = opts.warn?.(config) ?? [];
        for (const w of warnings) log.warn({ path: w.path, source }, `config warning: ${w.where ?? w.path}: ${w.message}`);
        last = { ok: true, source, version, at: new Date().toISOString(), changes, ...(warnings.length ? { warnings } : {}) };
        opts.onResult?.(last, 'applied');
        return last;
      },
      abort() {
        const open = !settled;
        if (open) {
          settled = true;
          for (const s of staged.reverse()) s.abort();
        }
        last = { ok: false, source, version, at: new Date().toISOString(), error: { code: ErrorCodes.CONFIG_INVALID, message: 'apply aborted' } };
        if (open) opts.onResult?.(last, 'aborted');
        return last;
      },
    };
  };

  /** Runs `fn` after every earlier apply has settled; `fn` calls `settled` when this one has. */
  const enqueue = <T>(fn: (settled: () => void) => Promise<T>): Promise<T> => {
    let release!: () => void;
    const done = new Promise<void>((r) => { release = r; });
    const previous = queue;
    queue = done;
    return previous.then(() => fn(release)).catch((err: unknown) => { release(); throw err; });
  };

  return {
    prepare(input, source) {
      return enqueue(async (settled) => {
        const p = await prepareOnce(input, source);
        if (!('commit' in p)) {
          settled();
          return p;
        }
        return { config: p.config, commit: () => { try { return p.commit(); } finally { settled(); } },
          abort: () => { try { return p.abort(); } finally { settled(); } } };
      });
    },
    apply(input, source) {
      return enqueue(async (settled) => {
        try {
          const p = await prepareOnce(input, source);
          return 'commit' in p ? p.commit() : p;
        } finally {
          settled();
        }
      });
    },
    current: () => running,
    last: () => last,
  };
}
