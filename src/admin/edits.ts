/**
 * The changes the admin API makes to a config document, as pure functions from the current document to the
 * next one (config/update.ts validates, applies and writes it). A proxy is known by its domain and a VM by
 * owner/name, compared as the config compares them (case and a trailing dot ignored).
 */
import { domain as domainSchema } from '../config/schema.ts';
import { parsePortRange, portText } from '../l4/config.ts';
import { ConfigError, EdgeError, ErrorCodes } from '../errors.ts';
import type { Edit } from '../config/update.ts';
import { COLUMN_OF, CsvError, type CsvIssue, type CsvRow } from './csv.ts';

type Doc = Record<string, unknown>;
type Item = Record<string, unknown>;

/** A domain as the config compares it; input the schema refuses is only folded, so a lookup simply misses. */
export function normalDomain(d: unknown): string {
  const r = domainSchema.safeParse(d);
  return r.success ? r.data : String(d).trim().toLowerCase();
}

const normalName = (s: unknown) => String(s ?? '').trim().toLowerCase();

export const proxyKey = (p: Item) => normalDomain(p.domain);
export const vmKey = (v: Item) => `${normalName(v.owner)}/${normalName(v.name)}`;
/** `tcp/10022`, `udp/2000-2009`: a forward is known by its protocol and ports (`"2000 - 2009"` and `2000-2009` are one). */
export const forwardKey = (f: Item) => {
  const r = parsePortRange(f.port);
  return `${normalName(f.protocol ?? 'tcp')}/${typeof r === 'string' ? String(f.port ?? '').trim() : portText(r)}`;
};

export type ListName = 'proxies' | 'vms' | 'forwards';
const KEY_OF: Readonly<Record<ListName, (i: Item) => string>> = { proxies: proxyKey, vms: vmKey, forwards: forwardKey };

const listOf = (doc: Doc, list: ListName): Item[] => (Array.isArray(doc[list]) ? doc[list] as Item[] : []);

function badRequest(message: string): EdgeError {
  return new EdgeError(ErrorCodes.ADMIN_BAD_REQUEST, message);
}

/** The JSON body of a PUT: an object, else 400. */
export function objectBody(body: unknown, what: string): Item {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest(`expected ${what} as a JSON object`);
  return body as Item;
}

/** Finds an item of `list` by key; null when there is none. */
export function findItem(doc: Doc, list: ListName, key: string): Item | null {
  const keyOf = KEY_OF[list];
  return listOf(doc, list).find((i) => typeof i === 'object' && i !== null && keyOf(i) === key) ?? null;
}

/** Creates or replaces the item with `key` (in place, so the file keeps its order); `created` says which. */
export function putItem(list: ListName, key: string, item: Item): Edit<{ created: boolean }> {
  const keyOf = KEY_OF[list];
  return (doc) => {
    const items = [...listOf(doc, list)];
    const i = items.findIndex((x) => typeof x === 'object' && x !== null && keyOf(x) === key);
    if (i >= 0) items[i] = item;
    else items.push(item);
    return { next: { ...doc, [list]: items }, detail: { created: i < 0 } };
  };
}

/** Removes the item with `key`; 404 when there is none. */
export function deleteItem(list: ListName, key: string, what: string): Edit<null> {
  const keyOf = KEY_OF[list];
  return (doc) => {
    const items = listOf(doc, list);
    const kept = items.filter((x) => !(typeof x === 'object' && x !== null && keyOf(x) === key));
    if (kept.length === items.length) throw new EdgeError(ErrorCodes.ADMIN_NOT_FOUND, `no ${what} in the config`);
    return { next: { ...doc, [list]: kept }, detail: null };
  };
}

/** A proxy body for PUT /proxies/{domain}: its domain is the path's (given in the body, it must be the same). */
export function proxyBody(body: unknown, pathDomain: string): Item {
  const p = objectBody(body, 'a proxy');
  if (p.domain === undefined) return { domain: pathDomain, ...p };
  if (normalDomain(p.domain) !== normalDomain(pathDomain)) throw badRequest(`the body's domain ${JSON.stringify(p.domain)} is not the path's ${JSON.stringify(pathDomain)}`);
  return p;
}

/** A VM body for PUT /vms/{owner}/{name}: owner and name are the path's (given in the body, they must be the same). */
export function vmBody(body: unknown, owner: string, name: string): Item {
  const v = objectBody(body, 'a VM');
  for (const [k, want] of [['owner', owner], ['name', name]] as const) {
    if (v[k] !== undefined && normalName(v[k]) !== normalName(want)) throw badRequest(`the body's ${k} ${JSON.stringify(v[k])} is not the path's ${JSON.stringify(want)}`);
  }
  return { name, owner, ...v };
}

/** Replaces the whole document (PUT /config). */
export function replaceDocument(body: unknown): Edit<null> {
  const next = objectBody(body, 'the config document');
  return () => ({ next, detail: null });
}

export interface ImportDetail {
  readonly rows: number;
  readonly added: number;
  readonly replaced: number;
}

/**
 * Imports CSV rows into `list`: a row whose key is there already replaces that item in place, the others
 * are added at the end; items not in the CSV stay. A refusal of the resulting config is told by CSV line
 * and column (`columnOf` a config key) where it concerns a row.
 */
export function importItems(list: ListName, rows: ReadonlyArray<{ readonly line: number; readonly item: Item }>,
  columnOf: Readonly<Record<string, string>>): Edit<ImportDetail> {
  const keyOf = KEY_OF[list];
  const pathRe = new RegExp(`^${list}\\[(\\d+)\\](?:\\.(\\w+))?`);
  return (doc) => {
    const items = [...listOf(doc, list)];
    const at = new Map(items.map((p, i) => [typeof p === 'object' && p !== null ? keyOf(p) : '', i]));
    const lineOf = new Map<number, number>();
    let replaced = 0;
    for (const row of rows) {
      const i = at.get(keyOf(row.item));
      if (i !== undefined) {
        items[i] = row.item;
        replaced++;
        lineOf.set(i, row.line);
      } else {
        lineOf.set(items.length, row.line);
        items.push(row.item);
      }
    }
    return {
      next: { ...doc, [list]: items },
      detail: { rows: rows.length, added: rows.length - replaced, replaced },
      explain(refusal: ConfigError) {
        const issues = refusal.issues.map((i): CsvIssue => {
          const m = pathRe.exec(i.path);
          const line = m ? lineOf.get(Number(m[1])) : undefined;
          if (line === undefined) return { line: null, column: null, path: i.path, message: i.message };
          return { line, column: columnOf[m![2] ?? ''] ?? null, message: i.message };
        });
        return new CsvError(issues);
      },
    };
  };
}

/** Imports proxy rows (a row whose domain is proxied already replaces that proxy). */
export function importRows(rows: readonly CsvRow[]): Edit<ImportDetail> {
  return importItems('proxies', rows.map((r) => ({ line: r.line, item: r.proxy })), COLUMN_OF);
}
