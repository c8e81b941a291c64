/**
 * `idcs-edge import proxies|forwards FILE.csv`: through the running edge's admin API when one answers at
 * admin.listen (so the import is applied, and written, by the edge), else by editing the config file
 * directly with the same validation and the same all-or-nothing rule (a running edge without the API then
 * picks the change up through its file watcher); a fleet edge's (config.source: redis) into the fleet
 * document instead.
 */
import { readFileSync } from 'node:fs';
import { systemClock } from '../clock.ts';
import { openConfigFile } from '../config/file.ts';
import { loadConfigFile } from '../config/load.ts';
import { createConfigUpdater } from '../config/update.ts';
import { ConfigError, EdgeError, ErrorCodes, type ConfigIssue, type ErrorCode } from '../errors.ts';
import { openFleetUpdater } from '../fleet/transfer.ts';
import { silentLogger } from '../log.ts';
import { adminClient } from './client.ts';
import { parseAdminListen, tokenFileOf } from './config.ts';
import { CsvError, parseProxyCsv, type CsvIssue } from './csv.ts';
import { FORWARD_COLUMN_OF, parseForwardCsv } from './csv-forwards.ts';
import { importItems, importRows, type ImportDetail } from './edits.ts';
import { addressText } from './guard.ts';
import { readAdminToken } from './token.ts';

export type ImportOutcome =
  | { readonly ok: true; readonly via: 'api' | 'file' | 'redis'; readonly where: string; readonly dryRun: boolean; readonly detail: ImportDetail }
  | { readonly ok: false; readonly code: string; readonly message: string; readonly issues: ReadonlyArray<CsvIssue | ConfigIssue> };

const refused = (e: EdgeError): ImportOutcome => ({ ok: false, code: e.code, message: e.message,
  issues: e instanceof CsvError || e instanceof ConfigError ? e.issues : [] });

export type ImportKind = 'proxies' | 'forwards';

/** The CSV of `kind` read into the edit that imports it (the same as the admin API's). */
const editOf = (kind: ImportKind, text: string) => (kind === 'proxies' ? importRows(parseProxyCsv(text))
  : importItems('forwards', parseForwardCsv(text), FORWARD_COLUMN_OF));

/**
 * Imports `csvFile` (proxies or forwards) into the edge of `configFile`; refusals (a bad row, an invalid
 * config) resolve, other failures throw.
 */
export async function importCsv(kind: ImportKind, configFile: string, csvFile: string, opts: { dryRun: boolean }): Promise<ImportOutcome> {
  let text: string;
  try {
    text = readFileSync(csvFile, 'utf8');
  } catch (err) {
    throw new EdgeError(ErrorCodes.USAGE, `cannot read ${csvFile}: ${(err as Error).message}`);
  }
  const config = loadConfigFile(configFile);
  const at = config.admin?.listen === undefined ? null : parseAdminListen(config.admin.listen);
  const client = at && (at.kind === 'unix' || at.port !== 0) ? adminClient(at, null) : null;
  if (at && client && await client.alive()) {
    const token = readAdminToken(tokenFileOf(config.admin!, configFile));
    const r = await adminClient(at, token).request('POST', `/api/v1/import/${kind}${opts.dryRun ? '?dryRun=1' : ''}`, { type: 'text/csv', data: text });
    const body = r.body as { error?: { code: string; message: string; issues?: Array<CsvIssue | ConfigIssue> }; import?: ImportDetail };
    if (body.error) {
      const issues = body.error.issues ?? [];
      if (body.error.code === ErrorCodes.CSV_INVALID || body.error.code === ErrorCodes.CONFIG_INVALID) return { ok: false, ...body.error, issues };
      throw new EdgeError(body.error.code as ErrorCode, `the edge at ${addressText(at)} refused the import: ${body.error.message}`);
    }
    return { ok: true, via: 'api', where: addressText(at), dryRun: opts.dryRun, detail: body.import! };
  }
  // A fleet edge's rules are the fleet document: written there, not into its file.
  const fleet = config.config.source === 'redis' ? await openFleetUpdater(configFile, config, silentLogger()) : null;
  try {
    const edit = editOf(kind, text);
    const updater = fleet?.updater ?? createConfigUpdater({ file: openConfigFile(configFile), target: null, now: () => systemClock.now() });
    const o = await updater.update(edit, { dryRun: opts.dryRun });
    return { ok: true, via: fleet ? 'redis' : 'file', where: fleet?.where ?? configFile, dryRun: opts.dryRun, detail: o.detail };
  } catch (err) {
    if (err instanceof CsvError || (err instanceof ConfigError && err.code === ErrorCodes.CONFIG_INVALID)) return refused(err);
    throw err;
  } finally {
    await fleet?.close();
  }
}
