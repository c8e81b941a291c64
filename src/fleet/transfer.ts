/**
 * The CLI's side of a fleet: `idcs-edge config export [FILE]` and `config import FILE` (each with
 * `--config` naming the edge's own file), the effective config of a fleet edge for `--check-config` and
 * `--renew-ssl`, and the fleet document's updater for writes made without a running edge (the CSV
 * imports). An import goes through the running edge's admin API when one answers at admin.listen (so it
 * is prepared by that edge's apply pipeline and answers how the fleet took it), else it is validated here
 * as --check-config validates (merged with this edge's own file) and stored with compare-and-set; either
 * way all of it or nothing. Output is returned, never printed (cli.ts prints).
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { hostname } from 'node:os';
import { stringify } from 'yaml';
import { adminClient } from '../admin/client.ts';
import { parseAdminListen, tokenFileOf } from '../admin/config.ts';
import { addressText } from '../admin/guard.ts';
import { readAdminToken } from '../admin/token.ts';
import { systemClock } from '../clock.ts';
import { parseConfigText, parseEdgeFile, readConfigText, validateConfig } from '../config/load.ts';
import type { EdgeConfig } from '../config/schema.ts';
import { replaceDocument } from '../admin/edits.ts';
import type { ConfigUpdater } from '../config/update.ts';
import { ConfigError, EdgeError, ErrorCodes, type ConfigIssue, type ErrorCode } from '../errors.ts';
import type { Logger } from '../log.ts';
import { openStorage, sharedOf } from '../storage/open.ts';
import type { SharedStorage } from '../storage/redis.ts';
import { createFleetDocument, type FleetRecord } from './document.ts';
import { createFleetEdges, type FleetOutcome } from './edges.ts';
import { effectiveDocument, fleetDocumentIssues, rulesOf, type Doc } from './split.ts';
import { createFleetUpdater } from './update.ts';

/** Opens the fleet's storage of an edge with config.source: redis (rejects when Redis cannot be reached). */
async function openFleet(config: EdgeConfig, log: Logger): Promise<SharedStorage> {
  if (config.config.source !== 'redis') throw new EdgeError(ErrorCodes.USAGE, 'this edge reads its rules from its file (config.source: file), not from a fleet document');
  const storage = await openStorage(config, log, { unreachable: 'fail' });
  return sharedOf(storage)!;
}

/** With config.source: redis, the edge file's host part with the stored fleet document; else `config` as it is. */
export async function effectiveConfig(configFile: string, config: EdgeConfig, log: Logger): Promise<{ config: EdgeConfig; version: number | null }> {
  if (config.config.source !== 'redis') return { config, version: null };
  const shared = await openFleet(config, log);
  try {
    const r = await createFleetDocument(shared).fetch();
    const doc = effectiveDocument(parseEdgeFile(readConfigText(configFile), configFile) as Doc, r?.document ?? {});
    return { config: validateConfig(doc, { file: `${configFile} with fleet document version ${r?.version ?? 0}` }), version: r?.version ?? 0 };
  } finally {
    await shared.close();
  }
}

/** The fleet document's updater for a write made here (no running edge): validate and store. `close()` when done. */
export async function openFleetUpdater(configFile: string, config: EdgeConfig, log: Logger): Promise<{ updater: ConfigUpdater; where: string; close(): Promise<void> }> {
  const shared = await openFleet(config, log);
  const updater = createFleetUpdater({ doc: createFleetDocument(shared), shared, edges: createFleetEdges({ storage: shared, log, now: () => systemClock.now() }),
    host: () => parseEdgeFile(readConfigText(configFile), configFile) as Doc, file: configFile, target: null, by: `cli@${hostname()}`,
    now: () => systemClock.now(), waitMs: 2_000, log });
  return { updater, where: shared.describe(), close: () => shared.close() };
}

export interface ExportedRules {
  readonly text: string;
  /** The fleet document's version, or null for the rules of an edge file (config.source: file). */
  readonly version: number | null;
  readonly where: string;
}

/** The fleet's rules as YAML (or JSON, for a `.json` target): the fleet document, or the rules part of an edge file. */
export async function exportRules(configFile: string, config: EdgeConfig, target: string | undefined, log: Logger): Promise<ExportedRules> {
  const json = target !== undefined && extname(target).toLowerCase() === '.json';
  let rules: Doc;
  let record: FleetRecord | null = null;
  let where: string;
  if (config.config.source === 'redis') {
    const shared = await openFleet(config, log);
    try {
      record = await createFleetDocument(shared).fetch();
      where = shared.describe();
    } finally {
      await shared.close();
    }
    if (record === null) throw new EdgeError(ErrorCodes.ADMIN_NOT_FOUND, `there is no fleet document in ${where} yet: write one with idcs-edge config import`);
    rules = record.document;
  } else {
    rules = rulesOf(parseConfigText(readConfigText(configFile), configFile));
    where = configFile;
  }
  if (json) return { text: `${JSON.stringify(rules, null, 2)}\n`, version: record?.version ?? null, where };
  const head = record
    ? `# idcs-edge fleet document version ${record.version} (ETag ${record.etag}), written by ${record.by} at ${record.at}, from ${where}\n`
    : `# the rules of ${where} (config.source: file)\n`;
  return { text: `${head}# load into a fleet with: idcs-edge config import FILE --config <edge file>\n${stringify(rules, { lineWidth: 0 })}`,
    version: record?.version ?? null, where };
}

export type ImportedRules =
  | { readonly ok: true; readonly via: 'api' | 'redis'; readonly where: string; readonly dryRun: boolean; readonly version: number | null;
    readonly fleet: FleetOutcome | null }
  | { readonly ok: false; readonly code: string; readonly message: string; readonly issues: readonly ConfigIssue[] };

const refused = (e: EdgeError): ImportedRules => ({ ok: false, code: e.code, message: e.message, issues: e instanceof ConfigError ? e.issues : [] });

/** Replaces the fleet document with `file` (YAML or JSON), all or nothing; refusals resolve, other failures throw. */
export async function importRules(configFile: string, config: EdgeConfig, file: string, opts: { dryRun: boolean }, log: Logger): Promise<ImportedRules> {
  if (config.config.source !== 'redis') {
    throw new EdgeError(ErrorCodes.USAGE, `config import writes the fleet document: ${configFile} has config.source: file (its rules are in the file itself)`);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new EdgeError(ErrorCodes.USAGE, `cannot read ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseConfigText(text, file) ?? {};
    const misplaced = fleetDocumentIssues(doc);
    if (misplaced.length) throw new ConfigError(ErrorCodes.CONFIG_INVALID, `${file} is not a fleet document`, { issues: misplaced });
  } catch (err) {
    if (err instanceof ConfigError) return refused(err);
    throw err;
  }
  const at = config.admin?.listen === undefined ? null : parseAdminListen(config.admin.listen);
  const probe = at && (at.kind === 'unix' || at.port !== 0) && !opts.dryRun ? adminClient(at, null) : null;
  if (at && probe && await probe.alive()) {
    const token = readAdminToken(tokenFileOf(config.admin!, configFile));
    const r = await adminClient(at, token).request('PUT', '/api/v1/config', { type: 'application/json', data: JSON.stringify(doc) });
    const body = r.body as { error?: { code: string; message: string; issues?: ConfigIssue[] }; fleet?: FleetOutcome };
    if (body.error) {
      if (body.error.code === ErrorCodes.CONFIG_INVALID) return { ok: false, ...body.error, issues: body.error.issues ?? [] };
      throw new EdgeError(body.error.code as ErrorCode, `the edge at ${addressText(at)} refused the import: ${body.error.message}`);
    }
    return { ok: true, via: 'api', where: addressText(at), dryRun: false, version: body.fleet?.version ?? null, fleet: body.fleet ?? null };
  }
  const fleet = await openFleetUpdater(configFile, config, log);
  try {
    const o = await fleet.updater.update(replaceDocument(doc), { dryRun: opts.dryRun });
    const outcome = (o.extra?.fleet ?? null) as FleetOutcome | null;
    return { ok: true, via: 'redis', where: fleet.where, dryRun: opts.dryRun, version: outcome?.version ?? null, fleet: outcome };
  } catch (err) {
    if (err instanceof ConfigError) return refused(err);
    throw err;
  } finally {
    await fleet.close();
  }
}
