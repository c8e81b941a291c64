/**
 * Config writes (the admin API, `idcs-edge import`): one at a time, each builds the next document from the
 * file as it is on disk and goes through the apply pipeline in two phases: prepare (validate everything,
 * build every part), then write the file, then commit. A refused document changes neither the file nor the
 * served rules; a failed write aborts the prepared apply; a crash leaves the old file or the new one whole
 * (the write is atomic). Without an edge to apply to (the CLI on a stopped edge), the document is validated
 * as `--check-config` does and written.
 */
import type { ApplyInput, ApplyResult, ApplySource, PreparedApply } from './apply.ts';
import { refusalError } from './apply.ts';
import { checkConfig } from './check.ts';
import type { ConfigFile } from './file.ts';
import { validateConfig } from './load.ts';
import { ConfigError, EdgeError, ErrorCodes } from '../errors.ts';

/** What a write applies to: the apply pipeline of the running edge (or of a workers group's primary). */
export interface ApplyTarget {
  prepare(input: ApplyInput, source: ApplySource): Promise<PreparedApply | ApplyResult>;
}

/** A change to the document: the next value, what to tell the caller, and how to word a refusal (CSV lines). */
export interface Edited<T> {
  readonly next: Record<string, unknown>;
  readonly detail: T;
  explain?(refusal: ConfigError): EdgeError;
}

/**
 * A change as a pure function of the current document: it must not change `current` (or anything in it),
 * which is the parsed file the updater keeps, so that a write costs no copy of a large document.
 */
export type Edit<T> = (current: Readonly<Record<string, unknown>>) => Edited<T>;

export interface UpdateOptions {
  /** The caller's If-Match header: the write happens only when it names the current ETag (or is `*`). */
  readonly ifMatch?: string | undefined;
  /** Validate (schema and files, as --check-config) and write nothing. */
  readonly dryRun?: boolean | undefined;
}

export interface UpdateOutcome<T> {
  /** The apply result; null for a dry run or an edit made without a running edge. */
  readonly result: ApplyResult | null;
  /** The ETag of the document now on disk. */
  readonly etag: string;
  readonly detail: T;
  /** More for the write's answer (a fleet write: how the other edges took it). */
  readonly extra?: Readonly<Record<string, unknown>>;
}

export interface ConfigUpdater {
  update<T>(edit: Edit<T>, opts?: UpdateOptions): Promise<UpdateOutcome<T>>;
}

/** RFC 9110 13.1.1: If-Match is `*` or a list of entity tags, compared strongly (a weak tag never matches). */
export function ifMatchAccepts(header: string, etag: string): boolean {
  const h = header.trim();
  return h === '*' || h.split(',').some((t) => t.trim() === etag);
}

/** Validates `document` as --check-config does (schema, then the files it names); throws ConfigError. */
export function checkDocument(document: unknown, file: string, now: Date): void {
  const config = validateConfig(document, { file });
  const issues = checkConfig(config, now);
  if (issues.length) throw new ConfigError(ErrorCodes.CONFIG_INVALID, `invalid config:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`, { issues });
}

/** Serialises writes to `file` and applies each through `target` (null: validate and write only, no edge runs). */
export function createConfigUpdater(o: { file: ConfigFile; target: ApplyTarget | null; now: () => Date }): ConfigUpdater {
  const { file } = o;
  // Read-modify-write must not interleave: two writes to different objects would otherwise lose one.
  let queue: Promise<unknown> = Promise.resolve();

  const updateOnce = async <T>(edit: Edit<T>, opts: UpdateOptions): Promise<UpdateOutcome<T>> => {
    const current = file.read();
    if (opts.ifMatch !== undefined && !ifMatchAccepts(opts.ifMatch, current.etag)) {
      throw new EdgeError(ErrorCodes.ADMIN_PRECONDITION,
        `the config changed since ${opts.ifMatch} was read (now ${current.etag}): read it again and retry`);
    }
    const base = current.value === null || current.value === undefined ? {} : current.value;
    if (typeof base !== 'object' || Array.isArray(base)) {
      throw new ConfigError(ErrorCodes.CONFIG_INVALID, `${file.path} is not a mapping of keys`, { issues: [{ path: '(root)', message: 'expected a mapping of keys' }] });
    }
    const edited = edit(base as Record<string, unknown>);
    // What is applied is the value of the text the file will hold (read back from the edited YAML model).
    const next = current.edit(edited.next);
    const explain = (err: unknown) => (err instanceof ConfigError && edited.explain ? edited.explain(err) : err);
    if (opts.dryRun || o.target === null) {
      try {
        checkDocument(next.value, file.path, o.now());
      } catch (err) {
        throw explain(err);
      }
      if (!opts.dryRun) await file.write(next, current.text);
      return { result: null, etag: opts.dryRun ? current.etag : next.etag, detail: edited.detail };
    }
    const prepared = await o.target.prepare({ document: next.value, file: file.path }, 'api');
    if (!('commit' in prepared)) throw explain(refusalError(prepared));
    try {
      await file.write(next, current.text);
    } catch (err) {
      prepared.abort();
      throw err;
    }
    return { result: prepared.commit(), etag: next.etag, detail: edited.detail };
  };

  return {
    update(edit, opts = {}) {
      const run = queue.then(() => updateOnce(edit, opts));
      queue = run.catch(() => {});
      return run;
    },
  };
}
