/**
 * The port-forward CSV platforms already keep: `protocol,host_port,vm_ip,vm_port,note`, one forward per
 * row (`tcp,8080,10.0.0.5,80,Web`; `host_port` and `vm_port` may be ranges of one length, `2000-2009`).
 * PURE. The header line is optional (a first row naming exactly these columns is the header); columns are
 * in this order. Every problem is reported by its line in the file and its column, all at once.
 */
import { forwardSchema, parsePortRange, portText } from '../l4/config.ts';
import { CsvError, parseRecords, type CsvIssue } from './csv.ts';

export const FORWARD_CSV_COLUMNS = ['protocol', 'host_port', 'vm_ip', 'vm_port', 'note'] as const;

/** The CSV column a forward key comes from. */
export const FORWARD_COLUMN_OF: Readonly<Record<string, string>> = {
  protocol: 'protocol', port: 'host_port', target: 'vm_ip', targetPort: 'vm_port', note: 'note',
};

export interface ForwardCsvRow {
  readonly line: number;
  /** The forward as the config document has it. */
  readonly item: Record<string, unknown>;
}

/** A port cell as the config writes it: a number, or the range text. */
function portValue(cell: string): number | string {
  return /^\d+$/.test(cell) ? Number(cell) : cell;
}

/** Reads the CSV into one forward per row; throws CsvError listing every bad row by line and column. */
export function parseForwardCsv(text: string): ForwardCsvRow[] {
  const records = parseRecords(text);
  const first = records[0];
  if (first && first.fields.map((f) => f.toLowerCase()).join(',') === FORWARD_CSV_COLUMNS.join(',')) records.shift();
  if (records.length === 0) {
    throw new CsvError([{ line: 1, column: null, message: `no forwards; expected rows of ${FORWARD_CSV_COLUMNS.join(',')}, e.g. tcp,8080,10.0.0.5,80,Web` }]);
  }
  const issues: CsvIssue[] = [];
  const seen = new Map<string, number>();
  const rows = records.map(({ line, fields }): ForwardCsvRow => {
    if (fields.length !== FORWARD_CSV_COLUMNS.length) {
      issues.push({ line, column: null, message: `expected ${FORWARD_CSV_COLUMNS.length} fields (${FORWARD_CSV_COLUMNS.join(',')}), found ${fields.length}` });
      return { line, item: {} };
    }
    const [protocol, hostPort, vmIp, vmPort, note] = fields as [string, string, string, string, string];
    const item: Record<string, unknown> = { protocol: protocol.toLowerCase(), port: portValue(hostPort), target: vmIp };
    if (vmPort !== '') item.targetPort = portValue(vmPort);
    if (note !== '') item.note = note;
    const checked = forwardSchema.safeParse(item);
    if (!checked.success) {
      for (const i of checked.error.issues) issues.push({ line, column: FORWARD_COLUMN_OF[String(i.path[0] ?? '')] ?? null, message: i.message });
      return { line, item };
    }
    const range = parsePortRange(item.port);
    const key = `${checked.data.protocol}/${typeof range === 'string' ? hostPort : portText(range)}`;
    const prev = seen.get(key);
    if (prev !== undefined) issues.push({ line, column: 'host_port', message: `${key} is already on line ${prev}` });
    else seen.set(key, line);
    return { line, item };
  });
  if (issues.length) throw new CsvError(issues);
  return rows;
}
