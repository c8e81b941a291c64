/**
 * A fake ACME CA for failures Pebble does not make (rate limits, 5xx, a CA that never answers): HTTPS on
 * 127.0.0.1:0 with a throwaway CA, a directory, nonces, and scripted replies for newAccount (`account`)
 * and newOrder (`order`). A path's replies are used in turn, the last one repeating; `'hang'` accepts
 * the request and never answers, `'default'` is the path's normal answer (an account is created, an order
 * fails with serverInternal). Every hit is recorded with its time.
 */
import https from 'node:https';
import net from 'node:net';

export interface FakeReply { status: number; headers?: Record<string, string>; body?: unknown }
type Step = FakeReply | 'hang' | 'default';
export type FakeReplies = Partial<Record<'account' | 'order', Step | readonly Step[]>>;

export interface FakeCa {
  readonly directoryUrl: string;
  /** Requests per path (`dir`, `nonce`, `account`, `order`). */
  readonly hits: Record<string, number>;
  /** Arrival times (ms) of the requests per path. */
  readonly times: Record<string, number[]>;
}

const PROBLEM = 'application/problem+json';

export async function startFakeCa(t: { after(fn: () => unknown): void }, tls: { cert: string; key: string }, replies: FakeReplies): Promise<FakeCa> {
  const hits: Record<string, number> = {};
  const times: Record<string, number[]> = {};
  const server = https.createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const path = (req.url ?? '/').slice(1);
    const n = hits[path] = (hits[path] ?? 0) + 1;
    (times[path] ??= []).push(Date.now());
    req.resume();
    const base = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const nonce = { 'replay-nonce': `n${Math.random().toString(36).slice(2)}` };
    if (path === 'dir') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ newNonce: `${base}/nonce`, newAccount: `${base}/account`, newOrder: `${base}/order` }));
      return;
    }
    if (path === 'nonce') {
      res.writeHead(200, nonce).end();
      return;
    }
    const script = replies[path as keyof FakeReplies];
    const list: readonly Step[] = script === undefined ? [] : Array.isArray(script) ? script : [script as Step];
    const step = list[Math.min(n, list.length) - 1] ?? 'default';
    const reply = step !== 'default' ? step : (path === 'account'
      ? { status: 201, headers: { location: `${base}/acct/1` }, body: { status: 'valid' } }
      : { status: 500, body: { type: 'urn:ietf:params:acme:error:serverInternal', detail: 'not faked' } });
    if (reply === 'hang') return;
    res.writeHead(reply.status, { 'content-type': reply.status >= 400 ? PROBLEM : 'application/json', ...nonce, ...reply.headers });
    res.end(JSON.stringify(reply.body ?? {}));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { directoryUrl: `https://127.0.0.1:${(server.address() as net.AddressInfo).port}/dir`, hits, times };
}
