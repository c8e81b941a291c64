/**
 * Turning schema problems into what an operator can act on: the line of the config file each problem is
 * on (YAML and JSON alike: the yaml parser reads both and keeps source ranges), "did you mean `targetPort`?"
 * for a misspelt key, and the proxy's domain next to its index (`proxies[4] (shop.example.com)`).
 */
import { LineCounter, parseDocument, isMap, isScalar, type Node } from 'yaml';
import type { z } from 'zod';
import type { ConfigIssue } from '../errors.ts';

/** `['proxies', 2, 'targetPort']` -> `proxies[2].targetPort`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out || '(root)';
}

type Def = { type: string; shape?: Record<string, z.ZodType>; innerType?: z.ZodType; element?: z.ZodType; in?: z.ZodType; valueType?: z.ZodType };
const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** The object schema at `path` inside `schema` (through optional, default, arrays, records and pipes), or null. */
function objectAt(schema: z.ZodType, path: ReadonlyArray<PropertyKey>): Record<string, z.ZodType> | null {
  let s: z.ZodType | undefined = schema;
  let i = 0;
  while (s) {
    const d = defOf(s);
    if (d.innerType) { s = d.innerType; continue; }
    if (d.type === 'pipe') { s = d.in; continue; }
    if (i === path.length) return d.type === 'object' ? d.shape ?? null : null;
    const seg = path[i++]!;
    if (d.type === 'object') s = d.shape?.[String(seg)];
    else if (d.type === 'array') s = d.element;
    else if (d.type === 'record') s = d.valueType;
    else return null;
  }
  return null;
}

function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** The known key closest to `key` (at most 2 edits, or a different case), if any. */
export function suggestKey(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const k of known) {
    const d = distance(key, k);
    if (d < bestD) { best = k; bestD = d; }
  }
  return best;
}

/** Where each path of a document is in its source text (1-based lines). */
function locator(text: string): (path: ReadonlyArray<PropertyKey>, key?: string) => number | undefined {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, keepSourceTokens: false });
  const lineOf = (n: { range?: [number, number, number] | null } | null | undefined) =>
    (n?.range ? lines.linePos(n.range[0]).line : undefined);
  return (path, key) => {
    // The deepest node the path reaches: a value that is missing is reported where its parent is.
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n) as unknown[], true) as Node | undefined;
      if (node === undefined) continue;
      if (key !== undefined && isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && p.key.value === key);
        if (pair) return lineOf(pair.key as Node);
      }
      return lineOf(node);
    }
    return undefined;
  };
}

/**
 * Config issues from a zod error: paths as the config names them, the line in `text` when given, a key
 * suggestion for unknown keys, and each proxy's domain in the human-readable `where` of the issue.
 */
export function explainIssues(err: z.ZodError, schema: z.ZodType, doc: unknown, text?: string): ConfigIssue[] {
  const at = text === undefined ? null : locator(text);
  const proxies = (doc as { proxies?: Array<{ domain?: unknown }> } | null)?.proxies;
  return err.issues.flatMap((i): ConfigIssue[] => {
    const path = formatPath(i.path);
    const domain = i.path[0] === 'proxies' && typeof i.path[1] === 'number' ? proxies?.[i.path[1]]?.domain : undefined;
    const where = typeof domain === 'string' && domain ? path.replace(/^proxies\[(\d+)\]/, `proxies[$1] (${domain})`) : undefined;
    const base = { path, ...(where ? { where } : {}) };
    if (i.code !== 'unrecognized_keys') {
      const line = at?.(i.path);
      return [{ ...base, message: i.message, ...(line ? { line } : {}) }];
    }
    // One issue per unknown key, each on its own line, with the key it most likely meant.
    const known = Object.keys(objectAt(schema, i.path) ?? {});
    return i.keys.map((k) => {
      const hint = suggestKey(k, known);
      const line = at?.(i.path, k);
      return { ...base, message: `unknown key: ${k}${hint ? ` (did you mean ${hint}?)` : ''}`, ...(line ? { line } : {}) };
    });
  });
}

/** `  line 23: proxies[4] (shop.example.com).targetPort: expected 1-65535`: one issue as a person reads it. */
export function issueLine(i: ConfigIssue): string {
  return `  ${i.line ? `line ${i.line}: ` : ''}${i.where ?? i.path}: ${i.message}`;
}
