/**
 * The gauges of an edge on a shared storage, read when scraped: whether Redis answers, which fleet
 * document version the edge serves, and whether it runs the fleet's renewal scheduler. Registered by the
 * process that owns them (the single edge, or a workers group's primary), so a group's sum counts them once.
 */
import { Gauge, type Registry } from 'prom-client';

export interface FleetGauges {
  /** true while the shared storage answers. */
  storageUp(): boolean;
  /** The fleet document version served; null without a fleet (config.source: file) or before the first. */
  version?(): number | null;
  /** true while this edge holds the renewal lease; absent without a fleet. */
  leader?(): boolean;
}

export function registerFleetMetrics(registry: Registry, g: FleetGauges): void {
  const registers = [registry];
  new Gauge({ name: 'idcs_edge_storage_up', help: '1 while the shared storage (Redis) answers, 0 while it cannot be reached.', registers,
    collect() { this.set(g.storageUp() ? 1 : 0); } });
  if (g.version) {
    const version = g.version;
    new Gauge({ name: 'idcs_edge_fleet_config_version', help: 'The fleet document version this edge serves.', registers,
      collect() {
        this.reset();
        const v = version();
        if (v !== null) this.set(v);
      } });
  }
  if (g.leader) {
    const leader = g.leader;
    new Gauge({ name: 'idcs_edge_fleet_renewal_leader', help: '1 while this edge holds the fleet\'s renewal lease (runs scans and issuance).', registers,
      collect() { this.set(leader() ? 1 : 0); } });
  }
}
