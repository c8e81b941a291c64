/**
 * The `alerts` section of the config: where certificate alerts are posted. Mounted by config/schema.ts at
 * the top-level key `alerts`; it follows reloads (alerts/part.ts builds a new sender on commit).
 */
import { z } from 'zod';

// RFC 9110 5.1: a field name is a token.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export const alertsConfigSchema = z.strictObject({
  /** The receiver of the JSON POSTs (http or https). Absent: alerts are only logged. */
  webhook: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL such as https://hooks.example.com/edge' }).optional(),
  /** Sent with every POST (an Authorization header, say); never logged. */
  webhookHeaders: z.record(
    z.string().regex(HEADER_NAME, { error: 'expected an HTTP header name (letters, digits, -)' }),
    z.string({ error: 'expected the header value as a string' })
      .refine((v) => !/[\r\n\0]/.test(v), { error: 'a header value cannot hold line breaks' }),
  ).default({}),
}).refine((a) => a.webhook !== undefined || Object.keys(a.webhookHeaders).length === 0,
  { error: 'webhookHeaders needs webhook', path: ['webhookHeaders'] });

export type AlertsConfig = z.output<typeof alertsConfigSchema>;
