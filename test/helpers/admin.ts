/**
 * A client of a test edge's admin API: node's fetch with the edge's own token (read from its token file),
 * JSON or CSV bodies, and the reply's status, headers and parsed body.
 */
import { readFileSync } from 'node:fs';

export interface AdminReply {
  status: number;
  headers: Headers;
  // The parsed JSON body (tests read fields of it).
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

export interface AdminTestClient {
  readonly url: string;
  readonly token: string;
  call(method: string, path: string, opts?: { json?: unknown; csv?: string; headers?: Record<string, string>; token?: string | null }): Promise<AdminReply>;
}

export function adminClientOf(admin: { url: string; tokenFile: string } | null): AdminTestClient {
  if (!admin) throw new Error('the edge has no admin API');
  const token = readFileSync(admin.tokenFile, 'utf8').trim();
  return {
    url: admin.url,
    token,
    async call(method, path, opts = {}) {
      const auth = opts.token === null ? {} : { authorization: `Bearer ${opts.token ?? token}` };
      const body = opts.json !== undefined ? { type: 'application/json', data: JSON.stringify(opts.json) }
        : opts.csv !== undefined ? { type: 'text/csv', data: opts.csv } : null;
      const res = await fetch(`${admin.url}${path}`, {
        method, headers: { ...auth, ...(body ? { 'content-type': body.type } : {}), ...opts.headers },
        ...(body ? { body: body.data } : {}), signal: AbortSignal.timeout(60_000),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try { parsed = JSON.parse(text); } catch { /* not JSON */ }
      return { status: res.status, headers: res.headers, body: parsed };
    },
  };
}
