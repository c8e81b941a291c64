/**
 * A config file as an editable document: its text, the plain value the loader reads from it, a version
 * (the ETag), and how to write a changed value back in the file's own format. YAML goes through the yaml
 * package's Document, changed node by node, so comments, blank lines, quoting and key order stay for
 * everything that did not change (and for the items of a list that were kept, matched by domain or
 * owner/name, wherever they moved). JSON has no comments: it is printed again with the file's indentation.
 */
import { createHash, type Hash } from 'node:crypto';
import { extname } from 'node:path';
import { isAlias, isMap, isScalar, isSeq, parseDocument, type Document, type Pair } from 'yaml';
import { parseConfigText } from './load.ts';

export interface ConfigDocument {
  readonly text: string;
  /** What the loader reads from the text (plain JSON data). */
  readonly value: unknown;
  /**
   * A strong ETag (RFC 9110 8.8.3) of the value: any change of a value changes it, whoever made it (an API
   * write, a hand edit); comments and layout do not.
   */
  readonly etag: string;
  /**
   * This file with `next` as its value: what did not change keeps its text. The YAML model parsed for this
   * document is changed in place and handed to the result (a 1 MB file takes half a second to parse), so
   * edit a document once; editing it again parses its text anew.
   */
  edit(next: unknown): ConfigDocument;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** JSON with object keys sorted: equal values give equal text whatever the key order. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (isObject(x)
    ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, x[k]])) : x));
}

/** Equality of plain JSON data, key order aside (what canonicalJson compares, without building the text). */
export function sameData(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameData(a[i], b[i])) return false;
    return true;
  }
  if (!isObject(a) || !isObject(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const k of keys) if (!Object.hasOwn(b, k) || !sameData(a[k], b[k])) return false;
  return true;
}

/**
 * canonicalJson(v)'s text, fed to `h` in pieces of about 64 KiB: the same digest, without the sorted copy of
 * every object or the whole text at once (for a 100,000-proxy document, some 100 MB less garbage per ETag).
 */
export function hashCanonical(h: Hash, v: unknown): void {
  let buf = '';
  const put = (s: string) => {
    buf += s;
    if (buf.length >= 65_536) {
      h.update(buf);
      buf = '';
    }
  };
  // JSON.stringify's rules: no key for what has no JSON form in an object, null for it in an array.
  const skip = (x: unknown) => x === undefined || typeof x === 'function' || typeof x === 'symbol';
  const walk = (x: unknown): void => {
    if (Array.isArray(x)) {
      put('[');
      for (let i = 0; i < x.length; i++) {
        if (i > 0) put(',');
        if (skip(x[i])) put('null');
        else walk(x[i]);
      }
      put(']');
    } else if (isObject(x) && typeof (x as { toJSON?: unknown }).toJSON !== 'function') {
      put('{');
      let first = true;
      for (const k of Object.keys(x).sort()) {
        if (skip(x[k])) continue;
        put(first ? `${JSON.stringify(k)}:` : `,${JSON.stringify(k)}:`);
        first = false;
        walk(x[k]);
      }
      put('}');
    } else {
      put(JSON.stringify(x) ?? 'null');
    }
  };
  walk(v);
  h.update(buf);
}

/** The ETag of a document value. */
export function etagOf(value: unknown): string {
  const h = createHash('sha256');
  hashCanonical(h, value ?? null);
  return `"${h.digest('hex').slice(0, 32)}"`;
}

/** Parses config text (`name` decides JSON or YAML, as the loader does); throws ConfigError EDGE_ERR_CONFIG_READ. */
export function parseConfigDocument(text: string, name: string): ConfigDocument {
  if (extname(name).toLowerCase() === '.json') return jsonDocument(text, parseConfigText(text, name), name);
  const doc = parseDocument(text, { prettyErrors: true });
  // The loader's own parse, for its error message; `parse` is parseDocument + toJS, so the values agree.
  return yamlDocument(text, doc.errors.length ? parseConfigText(text, name) : doc.toJS(), doc, name);
}

function jsonDocument(text: string, value: unknown, name: string): ConfigDocument {
  return {
    text, value, etag: etagOf(value),
    edit(next) {
      const indent = /^[{[]\s*\n([ \t]+)\S/.exec(text)?.[1] ?? '  ';
      const out = `${JSON.stringify(next, null, indent)}${text.endsWith('\n') || text === '' ? '\n' : ''}`;
      return jsonDocument(out, JSON.parse(out), name);
    },
  };
}

function yamlDocument(text: string, value: unknown, parsed: Document, name: string): ConfigDocument {
  let model: Document | null = parsed;
  return {
    text, value, etag: etagOf(value),
    edit(next) {
      const doc = model ?? parseDocument(text);
      model = null;
      // `value` is this model's value (the model is handed on only with the value it was made from).
      doc.contents = doc.contents === null ? doc.createNode(next) : (syncNode(doc, doc.contents, value, next) as typeof doc.contents);
      // lineWidth 0: a long note stays on one line instead of being folded; `[a, b]` as people write it.
      const out = doc.toString({ lineWidth: 0, flowCollectionPadding: false });
      // The value is read back from the text as the loader reads it (for a 100,000-proxy file, js-yaml's
      // 0.3 s rather than walking the model again).
      return yamlDocument(out, parseConfigText(out, name), doc, name);
    },
  };
}

/** The identity of a list item, so a kept item keeps its node (and comments) when others are added or removed. */
function identity(v: unknown): string {
  if (isObject(v) && typeof v.domain === 'string') return `domain:${v.domain.trim().toLowerCase().replace(/\.$/, '')}`;
  if (isObject(v) && typeof v.owner === 'string' && typeof v.name === 'string') return `vm:${v.owner.trim().toLowerCase()}/${v.name.trim().toLowerCase()}`;
  return canonicalJson(v);
}

/** A new node for `value`, carrying over the comments that stood at the node it replaces. */
function freshNode(doc: Document, old: unknown, value: unknown): unknown {
  const node = doc.createNode(value);
  if (old && typeof old === 'object' && 'commentBefore' in old) {
    const o = old as { commentBefore?: string | null; comment?: string | null; spaceBefore?: boolean };
    Object.assign(node, { commentBefore: o.commentBefore, comment: o.comment, spaceBefore: o.spaceBefore });
  }
  return node;
}

const keyText = (p: Pair) => String(isScalar(p.key) ? p.key.value : p.key);

/**
 * Makes `node` (whose value is `now`) hold `next`, changing as little as it can; returns the node to use in
 * its place (itself, or a new one when the kind of value changed).
 */
function syncNode(doc: Document, node: unknown, now: unknown, next: unknown): unknown {
  if (sameData(now, next)) return node;
  if (isAlias(node)) return freshNode(doc, node, next);
  if (isMap(node) && isObject(now) && isObject(next)) {
    // Keys are compared as text: YAML reads `502:` as a number, JSON data names it "502".
    node.items = node.items.filter((p) => Object.hasOwn(next, keyText(p)));
    for (const [k, v] of Object.entries(next)) {
      const pair = node.items.find((p) => keyText(p) === k);
      if (pair) pair.value = syncNode(doc, pair.value, now[k], v) as typeof pair.value;
      else node.set(k, doc.createNode(v));
    }
    return node;
  }
  if (isSeq(node) && Array.isArray(now) && Array.isArray(next)) {
    const pool = new Map<string, Array<{ node: unknown; value: unknown }>>();
    node.items.forEach((n, i) => {
      const id = identity(now[i]);
      pool.set(id, [...(pool.get(id) ?? []), { node: n, value: now[i] }]);
    });
    const first = node.items[0];
    node.items = next.map((v) => {
      const hit = pool.get(identity(v))?.shift();
      return (hit ? syncNode(doc, hit.node, hit.value, v) : doc.createNode(v)) as (typeof node.items)[number];
    });
    // The yaml package hangs a comment above the first item on the list: it goes where that item goes.
    if (node.commentBefore && first !== undefined && node.items[0] !== first) {
      const moved = node.items.find((n) => n === first) as { commentBefore?: string | null } | undefined;
      if (moved) moved.commentBefore = [node.commentBefore, moved.commentBefore].filter(Boolean).join('\n');
      node.commentBefore = null;
    }
    return node;
  }
  // A scalar keeps its node (its comment, its quoting) when the value stays of the same type; a plain
  // string that would read as another type (`true`, `123`) is quoted on output by the yaml package.
  if (isScalar(node) && typeof node.value === typeof next && !isObject(next) && !Array.isArray(next)) {
    node.value = next;
    return node;
  }
  return freshNode(doc, node, next);
}
