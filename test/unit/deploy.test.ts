/**
 * The shipped deployment files agree with the edge: compose.yaml and the systemd unit give the drain time
 * to finish, set only environment variables the edge reads, and keep the volumes the image declares; the
 * Dockerfile takes its ports from the environment (there is no Docker engine here to run them).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { ENV_OVERRIDES } from '../../src/config/env.ts';
import { validateConfig } from '../../src/config/load.ts';
import { STOP_MARGIN_MS } from '../../src/signals.ts';

const read = (f: string) => readFileSync(new URL(`../../${f}`, import.meta.url), 'utf8');
const known = new Set([...Object.keys(ENV_OVERRIDES), 'IDCS_EDGE_CONFIG', 'NODE_ENV']);
const drainMs = validateConfig({}).shutdown.graceMs + STOP_MARGIN_MS;

describe('deployment files', () => {
  const docker = read('Dockerfile');
  it('the Dockerfile sets the ports and the config through the environment', () => {
    const env = /^ENV ((?:.*\\\n)*.*)$/m.exec(docker)![1]!;
    const vars = Object.fromEntries([...env.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1], m[2]]));
    assert.deepEqual(vars, { NODE_ENV: 'production', IDCS_EDGE_CONFIG: '/app/config/edge.yaml', IDCS_EDGE_HTTP_PORT: '80', IDCS_EDGE_HTTPS_PORT: '443' });
    assert.doesNotMatch(docker, /sed -i/, 'the shipped config is not edited in the image');
    assert.match(docker, /^EXPOSE 80 443$/m);
  });

  it('compose.yaml publishes the image\'s ports, keeps its volumes and waits for the drain', () => {
    const c = parse(read('compose.yaml')) as { services: { edge: { ports: string[]; environment: Record<string, string>; volumes: string[]; stop_grace_period: string } } };
    const e = c.services.edge;
    assert.ok(e.ports.includes('80:80') && e.ports.includes('443:443'));
    for (const k of Object.keys(e.environment)) assert.ok(known.has(k), `${k} is read by the edge`);
    const declared = JSON.parse(/^VOLUME (\[.*\])$/m.exec(docker)![1]!) as string[];
    assert.deepEqual(e.volumes.map((v) => v.split(':')[1]).sort(), [...declared].sort());
    assert.ok(Number(/^(\d+)s$/.exec(e.stop_grace_period)![1]) * 1000 >= drainMs, 'stop_grace_period covers the drain');
  });

  it('the systemd unit binds low ports without root, reloads on SIGHUP and waits for the drain', () => {
    const unit = read('deploy/idcs-edge.service');
    const value = (k: string) => new RegExp(`^${k}=(.*)$`, 'm').exec(unit)?.[1];
    assert.equal(value('AmbientCapabilities'), 'CAP_NET_BIND_SERVICE');
    assert.equal(value('ExecReload'), '/bin/kill -HUP $MAINPID');
    assert.equal(value('KillMode'), 'mixed');
    assert.ok(Number(value('TimeoutStopSec')) * 1000 >= drainMs);
    assert.match(unit, /--signal=USR2/);
    for (const m of unit.matchAll(/^Environment=(\w+)=/gm)) assert.ok(known.has(m[1]!), `${m[1]} is read by the edge`);
  });
});
