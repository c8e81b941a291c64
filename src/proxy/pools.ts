/**
 * Keep-alive connection pools to VMs: one agent per upstream (same VM, port, scheme and TLS options), built
 * when config loads and carried over across reloads so a reload never drops warm connections. No global
 * agent is touched.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import type { EdgeConfig } from '../config/schema.ts';
import { ConfigError, ErrorCodes, type ConfigIssue } from '../errors.ts';
import type { RouteTable, Upstream } from '../routing/table.ts';

export type Agent = http.Agent | https.Agent;

export interface Pools {
  get(u: Upstream): Agent;
  /** Builds the agents a new table needs, reusing existing ones; throws ConfigError for unreadable CA files. */
  prepare(table: RouteTable, config: EdgeConfig): Map<string, Agent>;
  /** Makes a prepared set current; agents no longer used are closed once their requests are done. */
  activate(next: Map<string, Agent>): void;
  close(): void;
}

export function createPools(limits: EdgeConfig['upstream']): Pools {
  let current = new Map<string, Agent>();
  const retired = new Set<Agent>();

  const make = (u: Upstream, caPem: string | undefined): Agent => {
    const common = {
      keepAlive: true,
      maxSockets: limits.maxSocketsPerTarget,
      maxFreeSockets: limits.maxIdleSocketsPerTarget,
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
  };

  return {
    get(u) {
      const a = current.get(u.poolKey);
      if (a) return a;
      // A table always comes with its pools; this is only reached if they were not prepared together.
      const created = make(u, undefined);
      current.set(u.poolKey, created);
      return created;
    },
    prepare(table, config) {
      const next = new Map<string, Agent>();
      const issues: ConfigIssue[] = [];
      const caByFile = new Map<string, string>();
      for (const u of table.upstreams) {
        const existing = current.get(u.poolKey);
        if (existing) {
          next.set(u.poolKey, existing);
          continue;
        }
        let caPem: string | undefined;
        const caFile = u.tls?.caFile;
        if (caFile) {
          caPem = caByFile.get(caFile);
          if (caPem === undefined) {
            try {
              caPem = readFileSync(caFile, 'utf8');
              if (!caPem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate in it');
              caByFile.set(caFile, caPem);
            } catch (err) {
              const idx = config.proxies.findIndex((p) => p.upstreamTls?.caFile === caFile);
              issues.push({ path: `proxies[${idx}].upstreamTls.caFile`, message: `cannot use ${caFile}: ${(err as Error).message}` });
              continue;
            }
          }
        }
        next.set(u.poolKey, make(u, caPem));
      }
      if (issues.length > 0) {
        throw new ConfigError(ErrorCodes.CONFIG_INVALID,
          `invalid config:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`, { issues });
      }
      return next;
    },
    activate(next) {
      for (const [key, agent] of current) {
        if (!next.has(key)) {
          retired.add(agent);
          // Free sockets go now; busy ones finish their request and are then closed by the agent.
          for (const list of Object.values(agent.freeSockets)) for (const s of list ?? []) s.destroy();
          agent.maxFreeSockets = 0;
        }
      }
      current = next;
    },
    close() {
      for (const a of current.values()) a.destroy();
      for (const a of retired) a.destroy();
      current = new Map();
      retired.clear();
    },
  };
}
