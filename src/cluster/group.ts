/**
 * The workers of a `workers: N` edge as seen by the primary, and as a part of its apply pipeline: the first
 * commit forks them with the config; later applies are two-phase (every worker prepares, then all commit or
 * all abort), so a config that any worker refuses is refused by the whole edge. A worker that dies is
 * replaced with the running config.
 */
import cluster, { type Worker } from 'node:cluster';
import type { ConfigPart } from '../config/apply.ts';
import type { EdgeConfig } from '../config/schema.ts';
import { ConfigError, ErrorCodes, type ConfigIssue } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Observation } from '../metrics/observer.ts';
import type { TrafficDelta } from '../stats/traffic.ts';
import type { ToPrimary, ToWorker } from './messages.ts';

export interface WorkerGroup extends ConfigPart {
  /** Sends shutdown to every worker; resolves when all have exited or `graceMs` passed (then kills). */
  stop(graceMs: number): Promise<void>;
  /**
   * Asks every live worker for its Observation; resolves with those that answered within `timeoutMs`
   * (default 2 s). Each answer's traffic goes to `onTraffic`, a late one's too.
   */
  gather(timeoutMs?: number): Promise<Observation[]>;
  /** Sends a message to every live worker. */
  send(m: ToWorker): void;
  /** Sends a signal to every worker process. */
  signal(signal: NodeJS.Signals): void;
}

export interface WorkerGroupOptions {
  readonly count: number;
  readonly log: Logger;
  /** How long a worker may take to prepare a config before the apply is refused. */
  readonly prepareTimeoutMs: number;
  onMessage(m: ToPrimary, w: Worker): void;
  /** Traffic increments from a worker (its periodic and final sends, and every Observation). */
  onTraffic(deltas: TrafficDelta[]): void;
  /** The session ticket key in use (base64): a worker starts with it; later ones reach it by `send`. */
  ticketKey(): string;
}

export function createWorkerGroup(o: WorkerGroupOptions): WorkerGroup {
  const { log } = o;
  let config: EdgeConfig | null = null;
  let stopping = false;
  let nextId = 1;
  const replies = new Map<number, (w: Worker, m: Extract<ToPrimary, { type: 'prepared' }>) => void>();
  const observed = new Map<number, (o: Observation) => void>();
  const send = (w: Worker, m: ToWorker) => { if (w.isConnected()) w.send(m); };
  const live = () => Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected());

  const fork = (): void => {
    const w = cluster.fork({ IDCS_EDGE_WORKER: '1' });
    w.on('message', (m: ToPrimary) => {
      if (m.type === 'prepared') replies.get(m.id)?.(w, m);
      else if (m.type === 'traffic') o.onTraffic(m.deltas);
      else if (m.type === 'observed') {
        o.onTraffic(m.observation.traffic);
        observed.get(m.id)?.(m.observation);
      } else o.onMessage(m, w);
    });
    w.once('online', () => send(w, { type: 'start', config: config!, ticketKey: o.ticketKey() }));
  };

  cluster.on('exit', (w, code, signal) => {
    if (stopping) return;
    log.error({ worker: w.process.pid, code, signal }, 'worker died: starting a new one');
    setTimeout(() => { if (!stopping) fork(); }, 1000).unref();
  });

  /** Asks every live worker to prepare `next`; resolves to the workers that did, or throws their issues. */
  const prepareAll = (id: number, next: EdgeConfig): Promise<Worker[]> => {
    const workers = live();
    return new Promise((resolve, reject) => {
      const ok: Worker[] = [];
      const issues: ConfigIssue[] = [];
      let waiting = workers.length;
      const timer = setTimeout(() => finish(`${waiting} worker(s) did not prepare the config within ${o.prepareTimeoutMs} ms`), o.prepareTimeoutMs);
      const finish = (timeout?: string) => {
        clearTimeout(timer);
        replies.delete(id);
        if (timeout) issues.push({ path: '(workers)', message: timeout });
        if (issues.length === 0) { resolve(ok); return; }
        for (const w of ok) send(w, { type: 'abort', id });
        reject(new ConfigError(ErrorCodes.CONFIG_INVALID, `a worker refused the config:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`, { issues }));
      };
      replies.set(id, (w, m) => {
        if (m.ok) ok.push(w);
        else if (!issues.length) issues.push(...(m.issues?.length ? m.issues : [{ path: '(config)', message: m.message ?? 'refused' }]));
        if (--waiting === 0) finish();
      });
      if (waiting === 0) finish();
      for (const w of workers) send(w, { type: 'prepare', id, config: next });
    });
  };

  return {
    name: 'workers',
    async prepare(next, _table, running) {
      if (running === null) {
        return { commit() { config = next; for (let i = 0; i < o.count; i++) fork(); }, abort() {} };
      }
      const id = nextId++;
      const prepared = await prepareAll(id, next);
      return {
        commit() {
          config = next;
          for (const w of live()) send(w, prepared.includes(w) ? { type: 'commit', id } : { type: 'apply', config: next });
        },
        abort() { for (const w of prepared) send(w, { type: 'abort', id }); },
      };
    },
    gather(timeoutMs = 2000) {
      const workers = live();
      return Promise.all(workers.map((w) => new Promise<Observation | null>((resolve) => {
        const id = nextId++;
        const timer = setTimeout(() => { observed.delete(id); resolve(null); }, timeoutMs);
        observed.set(id, (ob) => { clearTimeout(timer); observed.delete(id); resolve(ob); });
        send(w, { type: 'observe', id });
      }))).then((all) => all.filter((ob): ob is Observation => ob !== null));
    },
    send(m) {
      for (const w of live()) send(w, m);
    },
    signal(signal) {
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill(signal);
    },
    stop(graceMs) {
      stopping = true;
      const workers = live();
      for (const w of workers) send(w, { type: 'shutdown' });
      return new Promise<void>((resolve) => {
        const check = () => { if (Object.keys(cluster.workers ?? {}).length === 0) { clearTimeout(deadline); resolve(); } };
        const deadline = setTimeout(() => {
          log.warn('workers did not stop within the grace period: killing them');
          for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
        }, graceMs + 2000);
        cluster.on('exit', check);
        check();
      });
    },
  };
}
