/**
 * Response compression (per proxy `compression`, on by default): gzip or brotli from node:zlib for a text
 * response the VM sent uncompressed, when the client asks for it. Negotiated from Accept-Encoding with its
 * q-values (RFC 9110 12.5.3; br wins a tie: smaller output at the quality used here). Never for a HEAD
 * request or one with Range (the VM answers ranges of its own representation), never for 204, 205, 206 or
 * 304, a body that is already encoded, `Cache-Control: no-transform` (RFC 9111 5.2.2.6), a type that does
 * not compress (images, video, archives, fonts), or a known length under MIN_COMPRESS_BYTES (the coding's
 * overhead outweighs the gain). WebSocket upgrades never come here.
 *
 * Streaming: every chunk the VM sends is compressed and flushed at once (Z_SYNC_FLUSH, BROTLI_OPERATION_FLUSH),
 * so server-sent events and long polls arrive as they are sent, at the cost of a few bytes per chunk. The
 * levels are chosen for a proxy that compresses on the fly: gzip 5 (Caddy's default), brotli quality 4 with a
 * 256 KiB window (within a small factor of gzip's speed and memory, and smaller output).
 */
import zlib, { type BrotliOptions } from 'node:zlib';
import type { Transform } from 'node:stream';

export type Coding = 'br' | 'gzip';

/** Bodies of a known length below this are sent as they are (Caddy's minimum is 512, nginx's 20). */
export const MIN_COMPRESS_BYTES = 1024;

/** Distinct Accept-Encoding values remembered per negotiator (browsers send a handful). */
const CACHE_SIZE = 256;

/**
 * The coding for an Accept-Encoding value: the acceptable one with the highest q (br on a tie), or null for
 * identity. `x-gzip` is gzip (RFC 9110 8.4.1.3); `*` stands for codings not named; q=0 refuses.
 */
export function parseAcceptEncoding(value: string): Coding | null {
  let br: number | undefined;
  let gzip: number | undefined;
  let star: number | undefined;
  for (const part of value.split(',')) {
    const semi = part.indexOf(';');
    const name = (semi < 0 ? part : part.slice(0, semi)).trim().toLowerCase();
    if (name === '') continue;
    let q = 1;
    if (semi >= 0) {
      const m = /(?:^|;)\s*q\s*=\s*([^;\s]*)/i.exec(part.slice(semi));
      // A qvalue that is not one (RFC 9110 12.4.2) is not taken as consent.
      if (m) q = /^[01](?:\.\d{0,3})?$/.test(m[1]!) ? Math.min(1, Number(m[1])) : 0;
    }
    if (name === 'br') br = q;
    else if (name === 'gzip' || name === 'x-gzip') gzip = Math.max(gzip ?? 0, q);
    else if (name === '*') star = q;
  }
  const qBr = br ?? star ?? 0;
  const qGzip = gzip ?? star ?? 0;
  if (qBr <= 0 && qGzip <= 0) return null;
  return qBr >= qGzip ? 'br' : 'gzip';
}

/** A negotiator that remembers what it parsed (a small map owned by its pipeline, cleared when full). */
export function createEncodingNegotiator(): (acceptEncoding: string | undefined) => Coding | null {
  const cache = new Map<string, Coding | null>();
  return (v) => {
    if (v === undefined || v === '') return null;
    let c = cache.get(v);
    if (c === undefined) {
      c = parseAcceptEncoding(v);
      if (cache.size >= CACHE_SIZE) cache.clear();
      cache.set(v, c);
    }
    return c;
  };
}

/** Caddy's default types: text, JSON, JavaScript, XML feeds, XHTML, SVG, WebAssembly (and their +json/+xml kin). */
export function isCompressibleType(contentType: string): boolean {
  const semi = contentType.indexOf(';');
  const t = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  if (t.startsWith('text/')) return true;
  return t === 'application/json' || t === 'application/javascript' || t === 'application/x-javascript'
    || t === 'application/xml' || t === 'application/xhtml+xml' || t === 'application/atom+xml' || t === 'application/rss+xml'
    || t === 'application/wasm' || t === 'image/svg+xml' || t === 'application/manifest+json'
    || t.endsWith('+json') || t.endsWith('+xml');
}

function hasToken(list: string, token: string): boolean {
  for (const t of list.split(',')) if (t.trim().toLowerCase() === token) return true;
  return false;
}

/**
 * Decides whether the VM's answer (`status`, its flat header list as it will be sent) is compressed with
 * `coding`; when it is, edits the list in place (Content-Length and Accept-Ranges removed, Content-Encoding
 * set, `Vary: Accept-Encoding` added, a strong ETag made weak, RFC 9110 8.8.1: the bytes differ) and returns
 * the compressor to pipe the body through. null: send the body as it is.
 */
export function compressorFor(coding: Coding, status: number, headers: string[]): Transform | null {
  if (status < 200 || status === 204 || status === 205 || status === 206 || status === 304) return null;
  let type: string | undefined;
  let length: number | undefined;
  let varyAt = -1;
  let etagAt = -1;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!.toLowerCase();
    const v = headers[i + 1]!;
    if (name === 'content-type') type = v;
    else if (name === 'content-encoding') { if (v.trim().toLowerCase() !== 'identity') return null; }
    else if (name === 'content-length') length = Number(v);
    else if (name === 'cache-control') { if (hasToken(v, 'no-transform')) return null; }
    else if (name === 'content-range') return null;
    else if (name === 'vary') varyAt = i;
    else if (name === 'etag') etagAt = i;
  }
  if (type === undefined || !isCompressibleType(type)) return null;
  if (length !== undefined && !(length >= MIN_COMPRESS_BYTES)) return null;
  if (etagAt >= 0 && !headers[etagAt + 1]!.startsWith('W/')) headers[etagAt + 1] = `W/${headers[etagAt + 1]}`;
  if (varyAt < 0) headers.push('vary', 'Accept-Encoding');
  else if (!hasToken(headers[varyAt + 1]!, 'accept-encoding') && headers[varyAt + 1]!.trim() !== '*') headers[varyAt + 1] += ', Accept-Encoding';
  // Remove from the end so that indexes stay valid.
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    const name = headers[i]!.toLowerCase();
    if (name === 'content-length' || name === 'accept-ranges' || name === 'content-encoding') headers.splice(i, 2);
  }
  headers.push('content-encoding', coding);
  return coding === 'gzip' ? zlib.createGzip({ level: 5, flush: zlib.constants.Z_SYNC_FLUSH }) : zlib.createBrotliCompress(brotliOptions(length));
}

function brotliOptions(length: number | undefined): BrotliOptions {
  const c = zlib.constants;
  return {
    flush: c.BROTLI_OPERATION_FLUSH,
    params: {
      [c.BROTLI_PARAM_MODE]: c.BROTLI_MODE_TEXT,
      [c.BROTLI_PARAM_QUALITY]: 4,
      [c.BROTLI_PARAM_LGWIN]: 18,
      ...(length !== undefined ? { [c.BROTLI_PARAM_SIZE_HINT]: length } : {}),
    },
  };
}
