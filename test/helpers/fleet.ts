/**
 * Edges of a fleet as real child processes: each with its own file (loopback ports, an admin listener, a
 * log file, its local copy in its certs folder) naming one Redis and a key prefix (one fleet per test), so
 * the rules and certificates they serve come from the fleet document.
 */
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { adminClientOf, type AdminTestClient } from './admin.ts';
import { edgeConfig, launchEdge, type EdgeProcess } from './edge-process.ts';
import { peerCertificate, refusedPort, request, waitFor } from './net.ts';
import type { Pebble } from './pebble.ts';

type Ctx = { after(fn: () => unknown): void };

export interface FleetEdge extends EdgeProcess {
  readonly admin: AdminTestClient;
  readonly adminPort: number;
}

export interface FleetEdgeOptions {
  readonly redisUrl: string;
  readonly keyPrefix: string;
  /** Short leases make a dead edge's locks lapse quickly. */
  readonly leaseTtlMs?: number;
  /** Fixed listener ports (a CA that must know the HTTP port before the edge starts). */
  readonly http?: number;
  readonly https?: number;
  /** More keys of the edge's own file. */
  readonly extra?: Record<string, unknown>;
}

/** The host part of a fleet edge's file. */
export async function fleetEdgeFile(t: Ctx, o: FleetEdgeOptions) {
  const adminPort = await refusedPort();
  const c = await edgeConfig(t, {}, 'edge-fleet-');
  const listen = { http: o.http ?? c.http, https: o.https ?? c.https, host: '127.0.0.1' };
  const doc = {
    listen, data: { dir: join(c.dir, 'data') }, admin: { listen: `127.0.0.1:${adminPort}` },
    storage: { type: 'redis', url: o.redisUrl, keyPrefix: o.keyPrefix, ...(o.leaseTtlMs ? { leaseTtlMs: o.leaseTtlMs } : {}) },
    config: { source: 'redis' }, ...o.extra,
  };
  c.write(doc);
  return { ...c, http: listen.http, https: listen.https, adminPort, doc };
}

/** Starts one fleet edge and waits until it listens and its admin API answers. */
export async function startFleetEdge(t: Ctx, o: FleetEdgeOptions): Promise<FleetEdge> {
  const c = await fleetEdgeFile(t, o);
  return launchFleetEdge(t, c);
}

/** Starts an edge on a file made by fleetEdgeFile. */
export async function launchFleetEdge(t: Ctx, c: Awaited<ReturnType<typeof fleetEdgeFile>>): Promise<FleetEdge> {
  const e = await launchEdge(t, c);
  const admin = adminClientOf({ url: `http://127.0.0.1:${c.adminPort}`, tokenFile: join(c.dir, 'admin.token') });
  await waitFor('the admin API', async () => (await admin.call('GET', '/readyz')).status === 200, 15_000);
  return { ...e, admin, adminPort: c.adminPort };
}

/** The backend name `host` is served by on `edge` over HTTP, or null (no route yet). */
export async function servedBy(edge: { http: number }, host: string): Promise<string | null> {
  const r = await request(edge.http, host, { timeoutMs: 5000 });
  return r.status === 200 ? (JSON.parse(r.body) as { backend: string }).backend : null;
}

/** A proxy body for the admin API: plain HTTP to a backend on 127.0.0.1. */
export const plainProxy = (port: number) => ({ target: '127.0.0.1', targetPort: port });

/** The certificate `edge` serves for `name` when Pebble issued it, else null. */
export async function issued(p: Pebble, edge: { https: number }, name: string): Promise<X509Certificate | null> {
  const leaf = new X509Certificate((await peerCertificate(edge.https, name)).raw);
  return leaf.checkIssued(new X509Certificate(await p.intermediatePem())) ? leaf : null;
}

/** The lines `edge` logged with message `msg`. */
export const logged = (edge: Pick<EdgeProcess, 'lines'>, msg: string) => edge.lines().filter((l) => l.msg === msg);
