/**
 * A small client of the admin API for the CLI (`idcs-edge import`): node:http, so a unix socket works as a
 * TCP address does. It finds the running edge from the config (admin.listen and the token file).
 */
import http from 'node:http';
import type { AdminAddress } from './config.ts';
import { dialHost } from './guard.ts';

export interface AdminReply {
  readonly status: number;
  readonly body: unknown;
}

export interface AdminClient {
  /** GET /healthz: false when nothing listens there (no edge runs); other failures throw. */
  alive(): Promise<boolean>;
  request(method: string, path: string, body?: { type: string; data: string }): Promise<AdminReply>;
}

/** A client of the admin API at `at`, sending `token` (null: none, for /healthz); each request gives up after `timeoutMs`. */
export function adminClient(at: AdminAddress, token: string | null, timeoutMs = 120_000): AdminClient {
  const send = (method: string, path: string, body?: { type: string; data: string }): Promise<AdminReply> => new Promise((resolve, reject) => {
    const target = at.kind === 'unix' ? { socketPath: at.path, headers: { host: 'localhost' } } : { host: dialHost(at.host), port: at.port, headers: {} };
    const req = http.request({
      ...target, method, path, agent: false,
      headers: { ...target.headers, ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body ? { 'content-type': body.type, 'content-length': Buffer.byteLength(body.data) } : {}) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try { parsed = JSON.parse(text); } catch { /* not JSON: keep the text */ }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`the admin API did not answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body?.data);
  });
  return {
    async alive() {
      try {
        return (await send('GET', '/healthz')).status < 500;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ECONNREFUSED' || code === 'ENOENT') return false;
        throw err;
      }
    },
    request: send,
  };
}
