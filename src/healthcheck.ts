/**
 * Docker HEALTHCHECK: healthy when the edge accepts TCP connections on its configured HTTP (or HTTPS) port
 * on loopback. Exit 0 healthy, 1 not. Needs no endpoint inside VM traffic.
 */
import net from 'node:net';
import { loadConfigFile } from './config/load.ts';

const file = process.argv[2] ?? 'config/edge.yaml';
const c = loadConfigFile(file);
const port = c.listen.http || c.listen.https;
const host = c.listen.host === '0.0.0.0' || c.listen.host === '::' ? '127.0.0.1' : c.listen.host;
const s = net.connect({ host, port, timeout: 3000 });
s.on('connect', () => { s.destroy(); process.exitCode = 0; });
s.on('timeout', () => { s.destroy(); process.exitCode = 1; });
s.on('error', () => { process.exitCode = 1; });
