/**
 * Leases as lock files (certmagic filestorage.go's lock, in node), for the lease manager in leases.ts.
 * A lock file holds its owner's pid, host, process start time, token and TTL, and is linked into place
 * fully written (atomic.ts), so a lock file is either complete or not ours: one that does not parse is
 * left by an older version or a broken disk and counts as expired after a second. A lease is expired when
 * its file was not touched for its TTL (the holder touches it on every refresh), or at once when its pid
 * is dead on this host, or when that pid is this process but the start time is not (a restarted container
 * often gets the same pid). Two waiters may judge one lock expired; only the one holding `<lock>.break`
 * removes it, and only if it is still the file that was judged (same content, same mtime).
 */
import { readFile, rm, stat, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import type { LeaseHolder } from '../errors.ts';
import { createFileExclusive, ensureDir, pidAlive } from './atomic.ts';
import type { LeaseBackend, LeaseRecord } from './leases.ts';

/** A lock file that does not parse is judged by its age only after this long (an older version writing it in place). */
const UNREADABLE_GRACE_MS = 1_000;
/** Lock files of the version before leases had no TTL; they were touched every 200 s and abandoned after 10 minutes. */
const LEGACY_TTL_MS = 10 * 60_000;
/** A `.break` file is held for milliseconds: one this old belongs to a process that died mid-break. */
const BREAKER_STALE_MS = 10_000;

interface Seen {
  readonly text: string;
  readonly mtimeMs: number;
  readonly record: Partial<LeaseRecord> & LeaseHolder | null;
}

function parse(text: string): Seen['record'] {
  try {
    const r = JSON.parse(text) as Record<string, unknown>;
    if (typeof r.pid !== 'number' || typeof r.host !== 'string' || typeof r.token !== 'string') return null;
    // `at` is what the version before leases called `since`.
    return { ...r, pid: r.pid, host: r.host, since: String(r.since ?? r.at ?? 'an unknown time') } as Seen['record'];
  } catch {
    return null;
  }
}

async function readLock(file: string): Promise<Seen | null> {
  try {
    const [text, st] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
    return { text, mtimeMs: st.mtimeMs, record: parse(text) };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function expired(seen: Seen, now: number, started: number): boolean {
  const r = seen.record;
  if (r === null) return now - seen.mtimeMs > UNREADABLE_GRACE_MS;
  if (now - seen.mtimeMs > (typeof r.ttlMs === 'number' ? r.ttlMs : LEGACY_TTL_MS)) return true;
  if (r.host !== hostname()) return false;
  if (r.pid === process.pid) return r.started !== undefined && r.started !== started;
  return !pidAlive(r.pid);
}

async function breakExpired(file: string, judged: Seen, started: number): Promise<void> {
  const breaker = `${file}.break`;
  const body = JSON.stringify({ pid: process.pid, host: hostname(), token: 'breaker', since: new Date().toISOString(), started });
  if (!(await createFileExclusive(breaker, body, 0o600))) {
    const b = await readLock(breaker);
    if (b && Date.now() - b.mtimeMs > BREAKER_STALE_MS) await rm(breaker, { force: true });
    return;
  }
  try {
    const now = await readLock(file);
    // Same content and not touched since: a holder that refreshed in between keeps its lock.
    if (now && now.text === judged.text && now.mtimeMs === judged.mtimeMs) await rm(file, { force: true });
  } finally {
    await rm(breaker, { force: true });
  }
}

const ours = (seen: Seen | null, record: LeaseRecord) => seen?.record?.token === record.token;

/** The lease backend over lock files; `fileOf` maps a lock name to its file. */
export function createFileLeaseBackend(fileOf: (name: string) => string, started: number): LeaseBackend {
  return {
    async tryAcquire(name, record) {
      const file = fileOf(name);
      await ensureDir(dirname(file), 0o700);
      // A few rounds: each one either takes the lock, finds a live holder, or clears an expired one.
      for (let round = 0; round < 5; round++) {
        if (await createFileExclusive(file, JSON.stringify(record), 0o600)) return { acquired: true };
        const seen = await readLock(file);
        if (seen === null) continue; // released in between
        if (!expired(seen, Date.now(), started)) {
          return { acquired: false, holder: seen.record && { pid: seen.record.pid, host: seen.record.host, since: seen.record.since } };
        }
        await breakExpired(file, seen, started);
      }
      return { acquired: false, holder: null };
    },
    async refresh(name, record) {
      const file = fileOf(name);
      if (!ours(await readLock(file), record)) return false;
      const t = new Date();
      await utimes(file, t, t);
      return true;
    },
    async release(name, record) {
      const file = fileOf(name);
      // Only our own lock: if it was taken over after expiring, the new holder keeps it.
      if (ours(await readLock(file), record)) await rm(file, { force: true });
    },
  };
}
