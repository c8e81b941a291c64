/**
 * A cross-process lock made of one file created with O_EXCL (certmagic filestorage.go's lock, in node).
 * The file holds the owner's pid, host and a token. A lock is stale when its pid is dead on this host or
 * when its file has not been touched for `staleMs`; the holder touches it every staleMs/3, so a slow ACME
 * order is never mistaken for a dead one. Waiters poll: there is no portable cross-process wake-up.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rm, stat, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';

export interface LockOptions {
  /** Give up after this long (0: try once). */
  readonly waitMs: number;
  /** A lock file untouched for this long is abandoned. */
  readonly staleMs: number;
  readonly pollMs: number;
}

interface LockBody {
  pid: number;
  host: string;
  token: string;
  at: string;
}

/** Thrown by acquireFileLock when the wait ran out; carries what the lock file said about its holder. */
export class LockTimeout extends Error {
  readonly holder: string;
  constructor(file: string, holder: string) {
    super(`${file} is held by ${holder}`);
    this.holder = holder;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readBody(file: string): Promise<{ body: LockBody | null; text: string; mtimeMs: number } | null> {
  try {
    const [text, st] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
    let body: LockBody | null = null;
    try { body = JSON.parse(text) as LockBody; } catch { /* half-written by a crashed holder: judged by age */ }
    return { body, text, mtimeMs: st.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function isStale(l: { body: LockBody | null; mtimeMs: number }, staleMs: number, now: number): boolean {
  if (now - l.mtimeMs > staleMs) return true;
  return l.body !== null && l.body.host === hostname() && !pidAlive(l.body.pid);
}

async function tryCreate(file: string, body: LockBody): Promise<boolean> {
  try {
    const fh = await open(file, 'wx', 0o600);
    try { await fh.writeFile(JSON.stringify(body)); } finally { await fh.close(); }
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/**
 * Removes a stale lock. Two waiters may judge the same lock stale; only the one holding `<file>.break`
 * removes it, and only if the file still has the content that was judged, so a fresh lock taken in between
 * is never deleted.
 */
async function breakStale(file: string, judgedText: string, opts: LockOptions): Promise<void> {
  const breaker = `${file}.break`;
  const token: LockBody = { pid: process.pid, host: hostname(), token: randomBytes(8).toString('hex'), at: new Date().toISOString() };
  if (!(await tryCreate(breaker, token))) {
    const b = await readBody(breaker);
    // The breaker is held for milliseconds; one that lingers belongs to a process that died mid-break.
    if (b && isStale(b, Math.min(opts.staleMs, 10_000), Date.now())) await rm(breaker, { force: true });
    return;
  }
  try {
    const now = await readBody(file);
    if (now && now.text === judgedText) await rm(file, { force: true });
  } finally {
    await rm(breaker, { force: true });
  }
}

/** Takes the lock or throws LockTimeout; resolves to the release function. */
export async function acquireFileLock(file: string, opts: LockOptions): Promise<() => Promise<void>> {
  const body: LockBody = { pid: process.pid, host: hostname(), token: randomBytes(12).toString('hex'), at: new Date().toISOString() };
  const deadline = Date.now() + opts.waitMs;
  for (;;) {
    if (await tryCreate(file, body)) break;
    const held = await readBody(file);
    if (held && isStale(held, opts.staleMs, Date.now())) {
      await breakStale(file, held.text, opts);
      continue;
    }
    if (Date.now() >= deadline) {
      const who = held?.body ? `pid ${held.body.pid} on ${held.body.host} since ${held.body.at}` : 'another process';
      throw new LockTimeout(file, who);
    }
    // Jitter keeps two waiters from polling in lock-step.
    await new Promise((r) => setTimeout(r, opts.pollMs * (0.5 + Math.random())));
  }
  const touchEvery = Math.max(1_000, Math.floor(opts.staleMs / 3));
  const keepAlive = setInterval(() => {
    const t = new Date();
    utimes(file, t, t).catch(() => { /* lock removed under us: release will notice */ });
  }, touchEvery);
  keepAlive.unref();
  return async () => {
    clearInterval(keepAlive);
    const now = await readBody(file);
    // Only remove our own lock: if it was broken as stale and re-taken, the new holder keeps it.
    if (now?.body?.token === body.token) await rm(file, { force: true });
  };
}
