/**
 * `idcs-edge traffic`: this month's traffic per VM. Through the running edge's admin API when one answers
 * at admin.listen (its figures include what was recorded in the last seconds and, in workers mode, by
 * every worker), else read from the database in `data.dir` as the edge last flushed it (read-only).
 */
import { existsSync } from 'node:fs';
import { adminClient } from '../admin/client.ts';
import { parseAdminListen, tokenFileOf } from '../admin/config.ts';
import { addressText } from '../admin/guard.ts';
import { readAdminToken } from '../admin/token.ts';
import type { Clock } from '../clock.ts';
import { loadConfigFile } from '../config/load.ts';
import { EdgeError, ErrorCodes, type ErrorCode } from '../errors.ts';
import { openTrafficStore, trafficFile } from './traffic.ts';

export interface VmTraffic {
  readonly vm: string;
  readonly in: number;
  readonly out: number;
}

export interface TrafficReport {
  /** `2026-12`: the UTC month the totals are of. */
  readonly month: string;
  readonly via: 'api' | 'file';
  readonly where: string;
  /** Largest first; VMs of the inventory without traffic included (zero). */
  readonly vms: readonly VmTraffic[];
}

/** This month's traffic of every VM of the edge that `configFile` configures. */
export async function monthTraffic(configFile: string, clock: Clock): Promise<TrafficReport> {
  const config = loadConfigFile(configFile);
  const month = clock.now().toISOString().slice(0, 7);
  const at = config.admin?.listen === undefined ? null : parseAdminListen(config.admin.listen);
  const probe = at && (at.kind === 'unix' || at.port !== 0) ? adminClient(at, null) : null;
  if (at && probe && await probe.alive()) {
    const token = readAdminToken(tokenFileOf(config.admin!, configFile));
    const r = await adminClient(at, token).request('GET', '/api/v1/traffic/vms');
    const body = r.body as { vms?: Array<{ vm: string; month: { in: number; out: number } }>; error?: { code: string; message: string } };
    if (!body.vms) throw new EdgeError((body.error?.code ?? ErrorCodes.INTERNAL) as ErrorCode, `the edge at ${addressText(at)} answered ${r.status}: ${body.error?.message ?? ''}`);
    return { month, via: 'api', where: addressText(at), vms: body.vms.map((v) => ({ vm: v.vm, in: v.month.in, out: v.month.out })) };
  }
  const rows = new Map(config.vms.map((v) => [`${v.owner}/${v.name}`, { vm: `${v.owner}/${v.name}`, in: 0, out: 0 }]));
  if (existsSync(trafficFile(config.data.dir))) {
    const store = openTrafficStore({ dir: config.data.dir, clock, readOnly: true });
    try {
      for (const t of store.monthTotals('vm')) rows.set(t.id, { vm: t.id, in: t.in, out: t.out });
    } finally {
      store.close();
    }
  }
  const vms = [...rows.values()].sort((a, b) => b.in + b.out - (a.in + a.out) || a.vm.localeCompare(b.vm));
  return { month, via: 'file', where: trafficFile(config.data.dir), vms };
}
