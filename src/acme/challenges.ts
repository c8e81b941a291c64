/**
 * HTTP-01 tokens (RFC 8555 section 8.3) in storage at `challenges/<token>`, so that whichever process of
 * this edge holds port 80 can answer: the running edge, or the standalone responder of a separate
 * `--renew-ssl` run. The file storage keeps them in the challenge folder, never the certificates folder:
 * the responder must not be able to serve anything from where private keys live, and it only ever asks
 * for names that pass `isValidToken`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.ts';
import type { Storage } from '../storage/contract.ts';

export const CHALLENGE_PATH_PREFIX = '/.well-known/acme-challenge/';

/** Tokens are base64url (RFC 8555 section 8.3); anything else could be a path and is never opened. */
export function isValidToken(token: string): boolean {
  return /^[A-Za-z0-9_-]{1,256}$/.test(token);
}

export interface ChallengeResponder {
  /** The key authorization for `token`, or null when there is none (answer 404). */
  answer(token: string): Promise<string | null>;
  /** Same, from a request path; null for paths outside /.well-known/acme-challenge/. */
  answerPath(urlPath: string): Promise<string | null>;
}

const keyOf = (token: string) => `challenges/${token}`;

/** Answers from `storage`; any failure to read (including a symlink planted in the folder) answers 404. */
export function createChallengeResponder(storage: Storage): ChallengeResponder {
  const answer = async (token: string): Promise<string | null> => {
    if (!isValidToken(token)) return null;
    try {
      return (await storage.get(keyOf(token)))?.toString('utf8') ?? null;
    } catch {
      return null;
    }
  };
  return {
    answer,
    answerPath: (urlPath) => {
      const path = urlPath.split('?')[0] ?? '';
      return path.startsWith(CHALLENGE_PATH_PREFIX) ? answer(path.slice(CHALLENGE_PATH_PREFIX.length)) : Promise.resolve(null);
    },
  };
}

export interface ChallengeStore {
  /** Publishes a token (atomically: a reader never sees half a token). */
  put(token: string, keyAuthorization: string): Promise<void>;
  /** Removes a token; a missing one is not an error. */
  remove(token: string): Promise<void>;
}

export function createChallengeStore(storage: Storage): ChallengeStore {
  return {
    async put(token, keyAuthorization) {
      if (!isValidToken(token)) throw new Error(`refusing to store ACME token with unexpected characters: ${JSON.stringify(token)}`);
      await storage.put(keyOf(token), keyAuthorization);
    },
    async remove(token) {
      if (isValidToken(token)) await storage.delete(keyOf(token));
    },
  };
}

/** Answers one request from `responder`; true when it was an ACME challenge path (answered 200 or 404). */
export async function handleChallengeRequest(responder: ChallengeResponder, req: http.IncomingMessage,
  res: http.ServerResponse): Promise<boolean> {
  const url = req.url ?? '/';
  if (!url.startsWith(CHALLENGE_PATH_PREFIX)) return false;
  const body = req.method === 'GET' || req.method === 'HEAD' ? await responder.answerPath(url) : null;
  if (body === null) {
    res.writeHead(404, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end('no such ACME challenge token\n');
  } else {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
  }
  return true;
}

export interface StandaloneResponder {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * A minimal HTTP server that answers only ACME challenges (any Host), for `--renew-ssl` when no edge is
 * running. Resolves null when the port is taken (EADDRINUSE): the running edge is assumed to answer from
 * the same challenge folder. Other listen errors reject.
 */
export function serveChallengesStandalone(opts: { port: number; host: string; responder: ChallengeResponder;
  log?: Logger }): Promise<StandaloneResponder | null> {
  const server = http.createServer((req, res) => {
    handleChallengeRequest(opts.responder, req, res).then((handled) => {
      if (!handled) res.writeHead(404, { 'content-type': 'text/plain' }).end('only ACME challenges are served here\n');
    }, (err: unknown) => {
      opts.log?.warn({ err }, 'acme challenge request failed');
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') {
        opts.log?.info({ port: opts.port, host: opts.host }, 'http port in use: assuming the running edge answers ACME challenges');
        resolve(null);
      } else {
        reject(err);
      }
    });
    server.listen(opts.port, opts.host, () => {
      const port = (server.address() as AddressInfo).port;
      opts.log?.info({ port, host: opts.host }, 'standalone acme challenge responder listening');
      resolve({
        port,
        close: () => new Promise<void>((done) => {
          server.closeAllConnections();
          server.close(() => done());
        }),
      });
    });
  });
}
