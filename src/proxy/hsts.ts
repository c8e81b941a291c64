/**
 * HTTP Strict Transport Security (RFC 6797) per proxy: the `hsts` config fragment and the header value a
 * route sends, computed once when the config is applied. A browser honours the header only when it came over
 * a connection without certificate errors (RFC 6797 8.1), and from then on refuses plain HTTP and any
 * certificate warning for `maxAge` seconds: there is no "proceed anyway". So it is on by default where the
 * certificate is one every browser trusts (`letsencrypt`, `upload`) and off for `self-signed`, whose local
 * CA is trusted only where someone installed it and is replaced when the store is lost (a browser that had
 * trusted the old CA would then lock its user out until maxAge passed).
 */
import { z } from 'zod';
import type { CertSource } from '../config/schema.ts';

/** One year: the max-age hstspreload.org asks for and most sites send. */
export const HSTS_DEFAULT_MAX_AGE = 31_536_000;

const hstsObject = z.strictObject({
  maxAge: z.number({ error: 'expected maxAge as a number of seconds (31536000 is one year)' })
    .int({ error: 'expected a whole number of seconds' }).min(0, { error: 'expected 0 (tells browsers to forget) or more seconds' })
    .max(2_147_483_647, { error: 'expected at most 2147483647 seconds' }).default(HSTS_DEFAULT_MAX_AGE),
  includeSubDomains: z.boolean({ error: 'expected true or false' }).default(false),
  preload: z.boolean({ error: 'expected true or false' }).default(false),
}).refine((h) => !h.preload || (h.includeSubDomains && h.maxAge >= HSTS_DEFAULT_MAX_AGE), {
  error: 'preload needs includeSubDomains: true and maxAge of at least 31536000 (what hstspreload.org requires)',
});

/** `hsts: false | true | { maxAge, includeSubDomains, preload }` on a proxy; absent: the default of its certSource. */
export const hstsSchema = z.union([z.boolean(), hstsObject], {
  error: 'expected true, false or { maxAge, includeSubDomains, preload }',
});

export type HstsSetting = z.output<typeof hstsSchema>;

/** The Strict-Transport-Security value a proxy sends over HTTPS, or null when it sends none. */
export function hstsHeaderOf(p: { readonly ssl: boolean; readonly certSource: CertSource; readonly hsts?: HstsSetting | undefined }): string | null {
  if (!p.ssl) return null;
  const h = p.hsts ?? p.certSource !== 'self-signed';
  if (h === false) return null;
  const o = h === true ? { maxAge: HSTS_DEFAULT_MAX_AGE, includeSubDomains: false, preload: false } : h;
  return `max-age=${o.maxAge}${o.includeSubDomains ? '; includeSubDomains' : ''}${o.preload ? '; preload' : ''}`;
}
