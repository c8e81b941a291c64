/**
 * The OpenAPI 3.1 document of the admin API, generated from zod: the config's own schemas (what a write
 * must satisfy: the same schema the loader validates with) and zod schemas of the answers. OpenAPI 3.1
 * schemas are JSON Schema 2020-12, which is what z.toJSONSchema writes.
 */
import { z } from 'zod';
import { configSchema, proxySchema, vmSchema } from '../config/schema.ts';
import { forwardSchema } from '../l4/config.ts';
import { ErrorCodes } from '../errors.ts';
import { CSV_COLUMNS } from './csv.ts';
import { FORWARD_CSV_COLUMNS } from './csv-forwards.ts';

const issue = z.object({ path: z.string(), message: z.string() });
const csvIssue = z.object({ line: z.number().int().nullable(), column: z.enum([...new Set([...CSV_COLUMNS, ...FORWARD_CSV_COLUMNS])] as [string, ...string[]]).nullable(), message: z.string(), path: z.string().optional() });

/** How the edges of a fleet took a version (config.source: redis): a write's answer has it as `fleet`. */
const fleetOutcome = z.object({
  version: z.number().int(), etag: z.string(),
  applied: z.array(z.string()).optional().describe('edges that serve the version'),
  refused: z.array(z.object({ edge: z.string(), code: z.string(), message: z.string(), issues: z.array(issue) })).optional(),
  pending: z.array(z.string()).optional().describe('live edges that had not reported within 2 s'),
});

const applyResult = z.object({
  ok: z.boolean(),
  source: z.enum(['start', 'file', 'signal', 'primary', 'api', 'redis']),
  version: z.number().int().describe('Counts the applies that took effect in the process serving the API'),
  at: z.string(),
  changes: z.object({
    routesAdded: z.array(z.string()), routesRemoved: z.array(z.string()), routesChanged: z.array(z.string()),
    vmsAdded: z.array(z.string()), vmsRemoved: z.array(z.string()), certificatesRequested: z.array(z.string()),
    restartRequired: z.array(z.string()), webSocketsClosed: z.number().int(),
  }).optional(),
  issues: z.array(issue).optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  fleet: fleetOutcome.optional(),
});

const errorBody = z.object({
  error: z.object({
    code: z.enum(Object.values(ErrorCodes) as [string, ...string[]]),
    message: z.string(),
    issues: z.array(z.union([issue, csvIssue])).optional(),
    cause: z.object({ code: z.string(), message: z.string() }).optional(),
  }),
});

const proxyStatus = z.enum(['serving', 'waiting-for-certificate', 'disabled', 'not-applied']);
const proxyView = z.object({ ...proxySchema.shape, status: proxyStatus });

const certificate = z.object({ source: z.enum(['self-signed', 'upload', 'letsencrypt']), notBefore: z.string(), notAfter: z.string(),
  issuer: z.string(), fingerprint256: z.string() });
const certView = z.object({
  name: z.string(), names: z.array(z.string()), source: z.enum(['self-signed', 'upload', 'letsencrypt']), domain: z.string(),
  certificate: certificate.nullable(), nextRenewalAt: z.string().nullable(), renewalReason: z.string(),
  lastError: z.object({ at: z.string(), code: z.string(), message: z.string(), problemType: z.string().optional() }).nullable(),
  nextAttemptAt: z.string().nullable(),
});
const renewed = z.object({ name: z.string(), source: z.string(), before: z.string().nullable(), notAfter: z.string().nullable(), reason: z.string() });

const status = z.object({
  version: z.string(), pid: z.number().int(), mode: z.enum(['single', 'workers']), workers: z.number().int(), ready: z.boolean(),
  listeners: z.object({ host: z.string(), http: z.number().int().nullable(), https: z.number().int().nullable(), admin: z.string() }),
  counts: z.object({ proxies: z.number().int(), vms: z.number().int(), certificates: z.number().int(),
    inFlight: z.number().int().optional(), webSockets: z.number().int().optional() }),
  config: z.object({ file: z.string(), etag: z.string(), source: z.enum(['file', 'redis']) }),
  lastApply: applyResult.nullable(),
  fleet: z.object({
    storage: z.string(), connected: z.boolean(), edge: z.string(), renewalLeader: z.boolean(),
    document: z.object({ version: z.number().int(), etag: z.string(), at: z.string(), by: z.string() }).nullable(),
    running: z.object({ version: z.number().int(), etag: z.string() }).nullable(),
    edges: z.array(z.object({ edge: z.string(), host: z.string(), pid: z.number().int(), live: z.boolean(), renewalLeader: z.boolean(),
      running: z.object({ version: z.number().int(), etag: z.string(), at: z.string() }).nullable(),
      refused: z.object({ version: z.number().int(), etag: z.string(), at: z.string(), code: z.string(), message: z.string(), issues: z.array(issue) }).nullable() }))
      .nullable(),
  }).optional().describe('config.source: redis'),
  degraded: z.array(z.string()).optional(),
});
const importResult = z.object({ ...applyResult.shape, dryRun: z.boolean(),
  import: z.object({ rows: z.number().int(), added: z.number().int(), replaced: z.number().int() }) });

const bytesInOut = z.object({ in: z.number().int().describe('bytes read from clients'), out: z.number().int().describe('bytes written to clients') });
const traffic = z.object({ series: z.array(z.object({ t: z.number().int().describe('Unix seconds: the minute (24h) or UTC day (30d, month)'), ...bytesInOut.shape })),
  totals: bytesInOut });
const counts = z.object({ '1xx': z.number().int(), '2xx': z.number().int(), '3xx': z.number().int(), '4xx': z.number().int(), '5xx': z.number().int() });
const requestSeries = z.object({ series: z.array(z.object({ t: z.number().int(), ...counts.shape })), totals: counts });
const vmTraffic = z.object({ vms: z.array(z.object({ vm: z.string(), last24h: bytesInOut, month: bytesInOut })) });
const failure = z.object({ at: z.string(), id: z.string(), status: z.number().int(), code: z.string().nullable(), message: z.string(),
  method: z.string(), host: z.string(), path: z.string() });
const activity = z.object({ windowSeconds: z.number().int(),
  proxies: z.record(z.string(), z.object({ requests: z.number().int(), errors: z.number().int(), failures: z.array(failure) })) });

/** JSON Schema of a zod schema as an OpenAPI component (input: what a client may send, defaults optional). */
function schemaOf(s: z.ZodType): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;
  return rest;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: string) => ({ content: { 'application/json': { schema: ref(name) } } });
const errors = (...statuses: number[]) => Object.fromEntries(statuses.map((s) => [String(s), { description: 'refused (the code says why)', ...json('Error') }]));
const param = (name: string, description: string) => ({ name, in: 'path', required: true, description, schema: { type: 'string' } });
const ifMatch = { name: 'If-Match', in: 'header', required: false, description: 'The ETag of a GET: the write happens only if the document is still that version (else 412)', schema: { type: 'string' } };
const etag = { ETag: { description: 'Version of the config document', schema: { type: 'string' } } };

/** A read: 200 with the schema, and the ETag of the document. */
const read = (summary: string, schema: string, params: object[] = []) => ({
  summary, parameters: params, responses: { 200: { description: 'OK', headers: etag, ...json(schema) }, ...errors(401, 403, 404, 409) },
});
/** A write: the apply result, or why nothing changed. */
const write = (summary: string, params: object[], body: string | null, created = false) => ({
  summary,
  parameters: [...params, ifMatch],
  ...(body ? { requestBody: { required: true, ...json(body) } } : {}),
  responses: {
    200: { description: 'applied: what changed', headers: etag, ...json('ApplyResult') },
    ...(created ? { 201: { description: 'created and applied', headers: etag, ...json('ApplyResult') } } : {}),
    ...errors(400, 401, 403, 404, 409, 412, 413, 415, 503),
  },
});

/** A CSV import: all rows or none, `?dryRun=1` validates only. */
const importOf = (what: string, format: string) => ({
  post: {
    summary: `Import ${what} from CSV: all rows or none`,
    parameters: [{ name: 'dryRun', in: 'query', required: false, description: '1: validate only', schema: { type: 'string', enum: ['0', '1', 'true', 'false'] } }, ifMatch],
    requestBody: { required: true, content: { 'text/csv': { schema: { type: 'string', description: format } } } },
    responses: { 200: { description: 'imported (or, with dryRun, valid)', headers: etag, ...json('ImportResult') }, ...errors(400, 401, 403, 409, 412, 413, 415, 503) },
  },
});

/** The whole OpenAPI document; `version` is the edge's. */
export function openApiDocument(version: string): Record<string, unknown> {
  const domain = param('domain', 'The proxy\'s domain; a wildcard URL-encoded (%2A.user1.example.com)');
  const vm = [param('owner', 'The VM\'s owner'), param('name', 'The VM\'s name')];
  const query = (name: string, description: string, schema: object) => ({ name, in: 'query', required: false, description, schema });
  const trafficParams = [query('vm', 'owner/name (give vm or proxy)', { type: 'string' }), query('proxy', 'a proxy\'s domain', { type: 'string' }),
    query('range', 'default 24h', { type: 'string', enum: ['24h', '30d', 'month'] })];
  const forward = [param('protocol', 'tcp or udp'), param('port', 'The forward\'s port, or its range as in the config (2000-2009)')];
  return {
    openapi: '3.1.0',
    info: { title: 'idcs-edge admin API', version, description: 'Change the edge\'s proxy rules and VM inventory; see README.md "Admin API".' },
    security: [{ bearer: [] }],
    paths: {
      '/healthz': { get: { summary: 'The process is alive', security: [], responses: { 200: { description: 'alive' } } } },
      '/readyz': { get: { summary: 'Listeners up and config applied', security: [],
        responses: { 200: { description: '`{"status":"ready"}`, or `{"status":"degraded","reasons":[...]}` while serving without its Redis or on an older fleet version' }, ...errors(503) } } },
      '/api/v1/proxies': { get: read('Every proxy as in the config, with its status', 'ProxyList') },
      '/api/v1/proxies/{domain}': {
        get: read('One proxy', 'ProxyView', [domain]),
        put: write('Create or replace a proxy', [domain], 'Proxy', true),
        delete: write('Remove a proxy', [domain], null),
      },
      '/api/v1/vms': { get: read('The VM inventory', 'VmList') },
      '/api/v1/vms/{owner}/{name}': {
        get: read('One VM', 'Vm', vm),
        put: write('Create or replace a VM', vm, 'Vm', true),
        delete: write('Remove a VM', vm, null),
      },
      '/api/v1/config': { get: read('The whole config document', 'Config'), put: write('Replace the whole config document', [], 'Config') },
      '/api/v1/certs': { get: read('Certificates the config needs: source, expiry, next renewal, last error', 'CertList') },
      '/api/v1/certs/{name}/renew': {
        post: { summary: 'Renew now, ignoring the renewal rule and the backoff', parameters: [param('name', 'The certificate name (a proxy domain, or a template VM\'s name)')],
          responses: { 200: { description: 'renewed: the new expiry', ...json('Renewed') }, ...errors(401, 403, 404, 409, 502, 503) } },
      },
      '/api/v1/import/proxies': importOf('proxies', `header ${CSV_COLUMNS.join(',')}`),
      '/api/v1/forwards': { get: read('Every port forward as in the config', 'ForwardList') },
      '/api/v1/forwards/{protocol}/{port}': {
        get: read('One port forward', 'Forward', forward),
        put: write('Create or replace a port forward', forward, 'Forward', true),
        delete: write('Remove a port forward', forward, null),
      },
      '/api/v1/import/forwards': importOf('port forwards', `rows of ${FORWARD_CSV_COLUMNS.join(',')} (the header line is optional), e.g. tcp,8080,10.0.0.5,80,Web`),
      '/api/v1/status': { get: read('Version, listeners, counts, last apply result', 'Status') },
      '/metrics': { get: { summary: 'Prometheus metrics of the whole edge (README "Metrics")',
        responses: { 200: { description: 'Prometheus text format 0.0.4', content: { 'text/plain': { schema: { type: 'string' } } } }, ...errors(401, 403) } } },
      '/api/v1/traffic': { get: { summary: 'Bytes in and out of one VM or proxy (README "Traffic statistics")', parameters: trafficParams,
        responses: { 200: { description: 'per minute (24h) or per UTC day (30d, month); only minutes or days with traffic', ...json('Traffic') }, ...errors(400, 401, 403) } } },
      '/api/v1/traffic/requests': { get: { summary: 'Requests of one VM or proxy by status class', parameters: trafficParams,
        responses: { 200: { description: 'per minute or day', ...json('RequestSeries') }, ...errors(400, 401, 403) } } },
      '/api/v1/traffic/vms': { get: { summary: 'Every VM\'s traffic over the last 24 hours and this month (UTC)', responses: { 200: { description: 'largest first', ...json('VmTraffic') }, ...errors(401, 403) } } },
      '/api/v1/activity': { get: { summary: 'Per proxy: requests and 5xx of the last minute, most recent failures', responses: { 200: { description: 'OK', ...json('Activity') }, ...errors(401, 403) } } },
      '/api/v1/session': {
        get: { summary: 'Whether the dashboard session cookie is valid', security: [], responses: { 200: { description: '{"signedIn": bool}' } } },
        post: { summary: 'Dashboard sign-in: the token in, an HttpOnly SameSite=Strict session cookie out', security: [],
          requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', properties: { token: { type: 'string' } }, required: ['token'] } } } },
          responses: { 204: { description: 'signed in (Set-Cookie)' }, ...errors(401, 403, 415) } },
        delete: { summary: 'Dashboard sign-out', security: [], responses: { 204: { description: 'signed out (the cookie is removed)' }, ...errors(403) } },
      },
      '/api/v1/openapi.json': { get: { summary: 'This document', responses: { 200: { description: 'OpenAPI 3.1', content: { 'application/json': { schema: { type: 'object' } } } } } } },
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'The token in admin.tokenFile' } },
      schemas: {
        Config: schemaOf(configSchema), Proxy: schemaOf(proxySchema), Vm: schemaOf(vmSchema), ProxyView: schemaOf(proxyView),
        Forward: schemaOf(forwardSchema), ForwardList: schemaOf(z.object({ forwards: z.array(forwardSchema) })),
        ProxyList: schemaOf(z.object({ proxies: z.array(proxyView) })), VmList: schemaOf(z.object({ vms: z.array(vmSchema) })),
        CertList: schemaOf(z.object({ certificates: z.array(certView) })), Renewed: schemaOf(renewed), Status: schemaOf(status),
        ApplyResult: schemaOf(applyResult), ImportResult: schemaOf(importResult), Error: schemaOf(errorBody),
        Traffic: schemaOf(traffic), RequestSeries: schemaOf(requestSeries), VmTraffic: schemaOf(vmTraffic), Activity: schemaOf(activity),
      },
    },
  };
}
