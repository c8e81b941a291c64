/**
 * Keep-alive connection pools to VMs: one per upstream (same VM, port, scheme, TLS options and pool limits),
 * built when a config is prepared and carried over across applies so that an apply never drops warm
 * connections. A pool no config uses any more is retired: its idle connections close at once, its busy ones
 * after their request, and then it is released, so a controller that adds and removes VMs all day does not
 * accumulate pools. No global agent or dispatcher is touched.
 *
 * Each upstream has two clients. Ordinary requests go through undici's `Pool`: measured on this path (a
 * prototype proxy, same origin) it costs 35-38 us of CPU per request where node:http's `request` with a
 * keep-alive agent costs 56, because it skips ClientRequest/IncomingMessage and the agent's bookkeeping.
 * WebSocket upgrades (http-proxy-3) and HTTP/2 requests with a body (whose trailers undici cannot send)
 * use a node:http(s) agent, made the first time one is needed.
 */
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { rootCertificates } from 'node:tls';
import { Pool } from 'undici';
import { ConfigError, ErrorCodes, type ConfigIssue } from '../errors.ts';
import type { RouteTable, Upstream } from '../routing/table.ts';
import { readCaFile } from '../tls/ca-file.ts';

export type Agent = http.Agent | https.Agent;

/** The clients of one upstream. */
export interface UpstreamPool {
  /** undici's pool for ordinary requests, made on first use (a table of 100,000 VMs builds none up front). */
  dispatcher(): Pool;
  /** The node:http(s) agent for upgrades and HTTP/2 uploads, made on first use. */
  agent(): Agent;
}

export interface PoolStats {
  /** Pools the running config uses. */
  readonly active: number;
  /** Pools of earlier configs still finishing requests. */
  readonly retired: number;
}

export interface StagedPools {
  commit(): void;
  abort(): void;
}

export interface Pools {
  get(u: Upstream): UpstreamPool;
  /**
   * Builds the pools a new table needs, reusing existing ones; `caFilePath(file)` names the config path of
   * an unusable CA file for the error. Throws ConfigError listing every unusable CA file.
   */
  prepare(table: RouteTable, caFilePath: (file: string) => string): StagedPools;
  stats(): PoolStats;
  close(): void;
}

/**
 * Idle pooled connections are closed after 4 s, before a typical VM server's own keep-alive timeout (nginx
 * 75 s, Node 5 s) would close them under us; a VM that announces a shorter `Keep-Alive: timeout` is
 * believed (undici, less its 2 s margin; the agent does not read it).
 */
const IDLE_MS = 4_000;

function tlsOptions(u: Upstream, caPem: string | undefined) {
  return {
    rejectUnauthorized: !u.tls?.insecureSkipVerify,
    ...(caPem ? { ca: [...rootCertificates, caPem] } : {}),
    ...(u.tls?.serverName ? { servername: u.tls.serverName } : {}),
  };
}

function makeAgent(u: Upstream, caPem: string | undefined): Agent {
  const common = {
    keepAlive: true,
    maxSockets: u.maxSockets,
    maxFreeSockets: u.maxIdleSockets,
    // LIFO keeps a few connections hot and lets the rest time out instead of cycling through all.
    scheduling: 'lifo' as const,
    timeout: IDLE_MS,
  };
  return u.protocol === 'http' ? new http.Agent(common) : new https.Agent({ ...common, ...tlsOptions(u, caPem) });
}

function makePool(u: Upstream, caPem: string | undefined): Pool {
  return new Pool(u.origin, {
    connections: u.maxSockets,
    pipelining: 1,
    keepAliveTimeout: IDLE_MS,
    keepAliveMaxTimeout: IDLE_MS,
    // Deadlines are per request (forwarder.ts): the VM's answer within upstream.timeoutMs, a body that
    // may then stream as long as it likes (SSE, downloads).
    headersTimeout: u.timeoutMs,
    bodyTimeout: 0,
    // Node's own limits for what a VM sends: 16 KiB of headers.
    maxHeaderSize: 16 * 1024,
    connect: { timeout: u.connectTimeoutMs, ...(u.protocol === 'https' ? tlsOptions(u, caPem) : {}) },
  });
}

type OwnedPool = UpstreamPool & {
  /** Resolves once both clients have finished their requests and closed. */
  retire(): Promise<void>;
  destroy(): void;
};

function makeUpstreamPool(u: Upstream, caPem: string | undefined): OwnedPool {
  let pool: Pool | null = null;
  let agent: Agent | null = null;
  return {
    dispatcher: () => (pool ??= makePool(u, caPem)),
    agent: () => (agent ??= makeAgent(u, caPem)),
    retire: async () => {
      await Promise.all([pool?.close(), agent ? retireAgent(agent) : undefined]);
    },
    destroy: () => {
      pool?.destroy().catch(() => {});
      agent?.destroy();
    },
  };
}

function busySockets(agent: Agent): Socket[] {
  return Object.values(agent.sockets).flatMap((list) => (list ?? []) as Socket[]);
}

/** Closes an agent's idle sockets now and resolves once its busy sockets are done. */
function retireAgent(agent: Agent): Promise<void> {
  for (const list of Object.values(agent.freeSockets)) for (const s of list ?? []) s.destroy();
  agent.maxFreeSockets = 0;
  const busy = busySockets(agent);
  if (busy.length === 0) {
    agent.destroy();
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    let open = busy.length;
    for (const s of busy) {
      s.once('close', () => {
        if (--open > 0) return;
        agent.destroy();
        resolve();
      });
    }
  });
}

export function createPools(): Pools {
  let current = new Map<string, OwnedPool>();
  const retired = new Set<OwnedPool>();

  const retire = (p: OwnedPool) => {
    retired.add(p);
    void p.retire().finally(() => retired.delete(p));
  };

  return {
    get(u) {
      const p = current.get(u.poolKey);
      if (p) return p;
      // A table always comes with its pools; this is only reached if they were not prepared together.
      const created = makeUpstreamPool(u, undefined);
      current.set(u.poolKey, created);
      return created;
    },
    prepare(table, caFilePath) {
      const next = new Map<string, OwnedPool>();
      const issues: ConfigIssue[] = [];
      const caByFile = new Map<string, string | Error>();
      for (const u of table.upstreams) {
        const existing = current.get(u.poolKey) ?? next.get(u.poolKey);
        if (existing) {
          next.set(u.poolKey, existing);
          continue;
        }
        const caFile = u.tls?.caFile;
        let caPem: string | undefined;
        if (caFile) {
          if (!caByFile.has(caFile)) {
            try { caByFile.set(caFile, readCaFile(caFile)); } catch (err) { caByFile.set(caFile, err as Error); }
          }
          const ca = caByFile.get(caFile)!;
          if (ca instanceof Error) {
            if (!issues.some((i) => i.message === ca.message)) issues.push({ path: caFilePath(caFile), message: ca.message });
            continue;
          }
          caPem = ca;
        }
        // Nothing is opened until a request needs it, so an aborted apply has nothing to close.
        next.set(u.poolKey, makeUpstreamPool(u, caPem));
      }
      if (issues.length > 0) {
        throw new ConfigError(ErrorCodes.CONFIG_INVALID, `invalid config:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`, { issues });
      }
      return {
        commit() {
          for (const [key, p] of current) if (!next.has(key)) retire(p);
          current = next;
        },
        abort() {
          for (const [key, p] of next) if (!current.has(key)) p.destroy();
        },
      };
    },
    stats: () => ({ active: current.size, retired: retired.size }),
    close() {
      for (const p of current.values()) p.destroy();
      for (const p of retired) p.destroy();
      current = new Map();
      retired.clear();
    },
  };
}
