/**
 * Keep-alive connection pools to VMs: one agent per upstream (same VM, port, scheme, TLS options and pool
 * limits), built when a config is prepared and carried over across applies so that an apply never drops
 * warm connections. An agent no config uses any more is retired: its idle sockets close at once, its busy
 * ones after their request, and then the agent itself is released, so a controller that adds and removes
 * VMs all day does not accumulate pools. No global agent is touched.
 */
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { rootCertificates } from 'node:tls';
import { ConfigError, ErrorCodes, type ConfigIssue } from '../errors.ts';
import type { RouteTable, Upstream } from '../routing/table.ts';
import { readCaFile } from '../tls/ca-file.ts';

export type Agent = http.Agent | https.Agent;

export interface PoolStats {
  /** Agents the running config uses. */
  readonly active: number;
  /** Agents of earlier configs still finishing requests. */
  readonly retired: number;
}

export interface StagedPools {
  commit(): void;
  abort(): void;
}

export interface Pools {
  get(u: Upstream): Agent;
  /**
   * Builds the agents a new table needs, reusing existing ones; `caFilePath(file)` names the config path of
   * an unusable CA file for the error. Throws ConfigError listing every unusable CA file.
   */
  prepare(table: RouteTable, caFilePath: (file: string) => string): StagedPools;
  stats(): PoolStats;
  close(): void;
}

function makeAgent(u: Upstream, caPem: string | undefined): Agent {
  const common = {
    keepAlive: true,
    maxSockets: u.maxSockets,
    maxFreeSockets: u.maxIdleSockets,
    // LIFO keeps a few connections hot and lets the rest time out instead of cycling through all.
    scheduling: 'lifo' as const,
    // Idle pooled sockets are closed before a typical VM server's own keep-alive timeout (nginx 75 s,
    // Node 5 s) would close them under us.
    timeout: 4_000,
  };
  if (u.protocol === 'http') return new http.Agent(common);
  return new https.Agent({
    ...common,
    rejectUnauthorized: !u.tls?.insecureSkipVerify,
    ...(caPem ? { ca: [...rootCertificates, caPem] } : {}),
    ...(u.tls?.serverName ? { servername: u.tls.serverName } : {}),
  });
}

function busySockets(agent: Agent): Socket[] {
  return Object.values(agent.sockets).flatMap((list) => (list ?? []) as Socket[]);
}

export function createPools(): Pools {
  let current = new Map<string, Agent>();
  const retired = new Set<Agent>();

  /** Closes idle sockets now and releases the agent once its busy sockets are done. */
  const retire = (agent: Agent) => {
    for (const list of Object.values(agent.freeSockets)) for (const s of list ?? []) s.destroy();
    agent.maxFreeSockets = 0;
    const busy = busySockets(agent);
    if (busy.length === 0) {
      agent.destroy();
      return;
    }
    retired.add(agent);
    let open = busy.length;
    for (const s of busy) {
      s.once('close', () => {
        if (--open > 0) return;
        agent.destroy();
        retired.delete(agent);
      });
    }
  };

  return {
    get(u) {
      const a = current.get(u.poolKey);
      if (a) return a;
      // A table always comes with its pools; this is only reached if they were not prepared together.
      const created = makeAgent(u, undefined);
      current.set(u.poolKey, created);
      return created;
    },
    prepare(table, caFilePath) {
      const next = new Map<string, Agent>();
      const made: Agent[] = [];
      const issues: ConfigIssue[] = [];
      const caByFile = new Map<string, string | Error>();
      for (const u of table.upstreams) {
        const existing = current.get(u.poolKey);
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
        const agent = makeAgent(u, caPem);
        made.push(agent);
        next.set(u.poolKey, agent);
      }
      if (issues.length > 0) {
        for (const a of made) a.destroy();
        throw new ConfigError(ErrorCodes.CONFIG_INVALID, `invalid config:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`, { issues });
      }
      return {
        commit() {
          for (const [key, agent] of current) if (!next.has(key)) retire(agent);
          current = next;
        },
        abort() {
          for (const a of made) a.destroy();
        },
      };
    },
    stats: () => ({ active: current.size, retired: retired.size }),
    close() {
      for (const a of current.values()) a.destroy();
      for (const a of retired) a.destroy();
      current = new Map();
      retired.clear();
    },
  };
}
