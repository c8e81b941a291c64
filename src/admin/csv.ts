/**
 * The proxies CSV operators already keep (the platform's Web Proxy form, one row per proxy), read into
 * proxy rules. PURE. RFC 4180 (csv-parse): quoted fields may hold commas, quotes and newlines. The header
 * is required; every problem is reported by the line of the file it is on (the header is line 1) and its
 * column, all of them at once, so an operator fixes the file in one pass.
 */
import { parse } from 'csv-parse/sync';
import { proxySchema } from '../config/schema.ts';
import { EdgeError, ErrorCodes } from '../errors.ts';

export const CSV_COLUMNS = ['domain', 'target', 'target_port', 'protocol', 'ssl', 'cert_source', 'websocket', 'note'] as const;
export type CsvColumn = (typeof CSV_COLUMNS)[number];

/**
 * A problem in the CSV: `line` and `column` locate it in the file. A problem that is not in any row (the
 * rows are fine, but the config refuses them: no `acme` section for a letsencrypt row) has line null and
 * the config `path` instead.
 */
export interface CsvIssue {
  readonly line: number | null;
  /** A column of the file (proxies: CSV_COLUMNS; forwards: FORWARD_CSV_COLUMNS). */
  readonly column: string | null;
  readonly message: string;
  readonly path?: string;
}

/** The CSV cannot be imported: every issue is listed. */
export class CsvError extends EdgeError {
  readonly issues: readonly CsvIssue[];
  constructor(issues: CsvIssue[]) {
    const shown = issues.slice(0, 20).map((i) => `  ${i.line === null ? i.path ?? 'csv' : `line ${i.line}${i.column ? `, column ${i.column}` : ''}`}: ${i.message}`);
    super(ErrorCodes.CSV_INVALID, `the CSV was not imported (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${shown.join('\n')}${issues.length > 20 ? '\n  ...' : ''}`);
    this.issues = Object.freeze(issues);
  }
}

export interface CsvRow {
  /** Line of the file the row starts on. */
  readonly line: number;
  /** The proxy as the config document has it (only the keys the row fills). */
  readonly proxy: Record<string, unknown>;
}

/** The CSV column a proxy key comes from. */
export const COLUMN_OF: Readonly<Record<string, CsvColumn>> = {
  domain: 'domain', target: 'target', owner: 'target', targetPort: 'target_port', protocol: 'protocol', ssl: 'ssl',
  certSource: 'cert_source', certFile: 'cert_source', keyFile: 'cert_source', websocket: 'websocket', note: 'note',
};

const BOOLEANS: Readonly<Record<string, boolean>> = { true: true, yes: true, 1: true, false: false, no: false, 0: false };

/** The records of a CSV, each with the line of the file it starts on, fields trimmed; CsvError if it is not CSV. */
export function parseRecords(text: string): Array<{ line: number; fields: string[] }> {
  let records: Array<{ record: string[]; info: { lines: number; empty_lines: number } }>;
  try {
    records = parse(text, { info: true, bom: true, relax_column_count: true, skip_empty_lines: true }) as unknown as typeof records;
  } catch (err) {
    const e = err as Error & { lines?: number };
    throw new CsvError([{ line: e.lines ?? null, column: null, message: e.message.replace(/^Invalid Record Length: |^Quote Not Closed: /, '') }]);
  }
  // csv-parse counts the line a record ends on; a record starts after the previous one and any skipped empty lines.
  let end = 0;
  let empty = 0;
  return records.map(({ record, info }) => {
    const line = end + 1 + (info.empty_lines - empty);
    end = info.lines;
    empty = info.empty_lines;
    return { line, fields: record.map((f) => f.trim()) };
  });
}

/** The rule a row describes: empty cells are left out, so the config's defaults apply. */
function proxyOf(cells: Partial<Record<CsvColumn, string>>, line: number, issues: CsvIssue[]): Record<string, unknown> {
  const p: Record<string, unknown> = {};
  const bad = (column: CsvColumn, message: string) => issues.push({ line, column, message });
  const set = (key: string, v: unknown) => { if (v !== '' && v !== undefined) p[key] = v; };
  set('domain', cells.domain);
  const target = cells.target ?? '';
  if (!target.toLowerCase().startsWith('owner:')) set('target', target);
  else if (target.slice('owner:'.length).trim() === '') bad('target', 'expected owner:<name>, the owner whose VMs the template reaches');
  else p.owner = target.slice('owner:'.length).trim();
  const port = cells.target_port ?? '';
  if (port !== '' && !/^\d{1,5}$/.test(port)) bad('target_port', `expected a port number 1-65535, not ${JSON.stringify(port)}`);
  else if (port !== '') p.targetPort = Number(port);
  set('protocol', cells.protocol?.toLowerCase());
  for (const [column, key] of [['ssl', 'ssl'], ['websocket', 'websocket']] as const) {
    const v = (cells[column] ?? '').toLowerCase();
    if (v !== '' && !(v in BOOLEANS)) bad(column, `expected true/false, yes/no or 1/0, not ${JSON.stringify(cells[column])}`);
    else if (v !== '') p[key] = BOOLEANS[v];
  }
  set('certSource', cells.cert_source?.toLowerCase());
  set('note', cells.note);
  return p;
}

/** Reads the CSV into one rule per row; throws CsvError listing every bad row by line and column. */
export function parseProxyCsv(text: string): CsvRow[] {
  const records = parseRecords(text);
  const header = records.shift();
  if (!header) throw new CsvError([{ line: 1, column: null, message: `the file is empty; expected the header ${CSV_COLUMNS.join(',')}` }]);
  const names = header.fields.map((f) => f.toLowerCase());
  const missing = CSV_COLUMNS.filter((c) => !names.includes(c));
  const unknown = names.filter((n) => !(CSV_COLUMNS as readonly string[]).includes(n));
  if (missing.length || unknown.length || new Set(names).size !== names.length) {
    throw new CsvError([{ line: header.line, column: null,
      message: `expected the header ${CSV_COLUMNS.join(',')}${missing.length ? `; missing: ${missing.join(', ')}` : ''}${unknown.length ? `; unknown: ${unknown.join(', ')}` : ''}` }]);
  }
  const issues: CsvIssue[] = [];
  const seen = new Map<string, number>();
  const rows = records.map(({ line, fields }) => {
    if (fields.length !== names.length) {
      issues.push({ line, column: null, message: `expected ${names.length} fields, found ${fields.length}` });
      return { line, proxy: {} };
    }
    const cells = Object.fromEntries(names.map((n, i) => [n, fields[i]!])) as Partial<Record<CsvColumn, string>>;
    const before = issues.length;
    const proxy = proxyOf(cells, line, issues);
    const checked = proxySchema.safeParse(proxy);
    if (!checked.success) {
      // A cell that could not be read is reported once, not again as the gap it leaves.
      const told = new Set(issues.slice(before).map((i) => i.column));
      for (const i of checked.error.issues) {
        const column = COLUMN_OF[String(i.path[0] ?? '')] ?? null;
        if (!told.has(column)) issues.push({ line, column, message: i.message });
      }
    } else {
      const prev = seen.get(checked.data.domain);
      if (prev !== undefined) issues.push({ line, column: 'domain', message: `${checked.data.domain} is already on line ${prev}` });
      else seen.set(checked.data.domain, line);
    }
    return { line, proxy };
  });
  if (issues.length) throw new CsvError(issues);
  return rows;
}
