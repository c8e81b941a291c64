/**
 * The file implementation of the storage contract, on today's on-disk layout (file-layout.ts). Values are
 * replaced atomically (atomic.ts); secrets are 0600, folders under the certificates folder 0700 (the
 * challenge folder 0755: tokens are public). Only regular files this storage wrote are values: a symlink
 * where a key should be is refused (O_NOFOLLOW), so a planted link can never make the challenge responder
 * serve a private key. Leases are lock files (file-lock.ts). Change notification polls a generation file
 * per namespace with fs.watchFile instead of inotify, which misses renames on some volumes and network file
 * systems.
 */
import { constants, unwatchFile, watchFile, type Stats } from 'node:fs';
import { lstat, mkdir, open, readdir, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { ErrorCodes, StorageError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { ensureDir, fsyncDir, replaceFilesAtomic, sweepLeftovers, writeFileAtomic } from './atomic.ts';
import { isKeySegment, type Namespace, type Storage, type Watcher, storageOps } from './contract.ts';
import { createFileLeaseBackend } from './file-lock.ts';
import { fileLayout, type FileLayout } from './file-layout.ts';
import { createLeaseManager } from './leases.ts';

export interface FileStorageOptions {
  /** certs.dir: certificates, the ACME account, renewal state and lock files. */
  readonly dir: string;
  /** Where HTTP-01 tokens are kept; never `dir` or inside it. */
  readonly challengeDir: string;
  readonly log: Logger;
  /** How often watchers stat their generation file (default 500 ms). */
  readonly pollIntervalMs?: number;
  /** How often a waiting lock() looks again (default 200 ms, with jitter). */
  readonly lockPollMs?: number;
  /** The TTL of a lease taken without one (default 30 s). */
  readonly leaseTtlMs?: number;
}

const missing = (err: unknown) => ['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '');

/** Opens the storage; nothing is created on disk until the first write. */
export function createFileStorage(opts: FileStorageOptions): Storage {
  const layout: FileLayout = fileLayout(opts.dir, opts.challengeDir);
  const describe = () => `file:${layout.dir}`;
  // Process start time: tells a restarted process from its predecessor with the same pid (file-lock.ts).
  const started = Math.round(performance.timeOrigin);
  const leases = createLeaseManager(createFileLeaseBackend(layout.lockFile, started), { log: opts.log, pollMs: opts.lockPollMs, started,
    ...(opts.leaseTtlMs ? { ttlMs: opts.leaseTtlMs } : {}) });
  const watchers = new Set<Watcher>();
  let closed = false;

  const io = storageOps(describe, () => closed);

  const symlinkRefused = (key: string, path: string) =>
    new StorageError(ErrorCodes.STORAGE, key, `${path} is a symbolic link, not a value this storage wrote`);

  const bump = async (ns: Namespace) => {
    const file = layout.generationFile(ns);
    await ensureDir(layout.dir, 0o700);
    // A new token on every bump, so two processes bumping at once still change the file.
    const token = `${new Date().toISOString()} ${process.pid} ${randomBytes(6).toString('hex')}\n`;
    try {
      await writeFileAtomic(file, token, 0o644);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      // A full disk has no room for the temp file, but the value is stored already and watchers must hear
      // of it: rewrite the token in place, in the block the file has (watchers see its mtime change).
      const fh = await open(file, 'r+');
      try {
        await fh.write(token, 0);
      } finally {
        await fh.close();
      }
    }
  };

  const ensureFolders = async (ns: Namespace, folder: string) => {
    // Tokens are public: the challenge folder is made readable, but an operator's own mode is left alone.
    if (ns === 'challenges') {
      await mkdir(folder, { recursive: true, mode: 0o755 });
      return;
    }
    await ensureDir(layout.dir, 0o700);
    await ensureDir(folder, 0o700);
  };

  /** Every key below `folder` (which holds the keys starting with `segments`), depth first. */
  const walk = async (ns: Namespace, folder: string, segments: string[], top: boolean, into: string[]) => {
    let entries;
    try {
      entries = await readdir(folder, { withFileTypes: true });
    } catch (err) {
      if (missing(err)) return;
      throw err;
    }
    for (const e of entries) {
      // Dot names are temp files and bookkeeping; symlinks are never values (see the module comment); a
      // file an operator put there under a name no key can have is not listed.
      if (!isKeySegment(e.name) || (top && layout.foreign(ns).includes(e.name))) continue;
      if (e.isDirectory()) await walk(ns, join(folder, e.name), [...segments, e.name], false, into);
      else if (e.isFile()) into.push([...segments, e.name].join('/'));
    }
  };

  return {
    get: (key) => io(key, 'read', async () => {
      const { path } = layout.pathOf(key);
      let fh;
      try {
        fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
        return await fh.readFile();
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (missing(err) || code === 'EISDIR') return null;
        if (code === 'ELOOP') throw symlinkRefused(key, path);
        throw err;
      } finally {
        await fh?.close();
      }
    }),
    put: (key, value, putOpts) => io(key, 'write', async () => {
      const { ns, path } = layout.pathOf(key);
      await ensureFolders(ns, dirname(path));
      await writeFileAtomic(path, value, putOpts?.secret ? 0o600 : 0o644);
      await bump(ns);
    }),
    putAll: (entries) => io(entries.length > 1 ? `${entries[0]!.key} (and ${entries.length - 1} more of its set)` : entries[0]?.key ?? '(nothing)', 'write', async () => {
      const writes = entries.map((e) => ({ ...layout.pathOf(e.key), value: e.value, secret: e.opts?.secret === true }));
      for (const w of writes) await ensureFolders(w.ns, dirname(w.path));
      // A set is written rarely (a certificate): the moment to clear what a killed writer left in its folder.
      for (const dir of new Set(writes.map((w) => dirname(w.path)))) await sweepLeftovers(dir);
      await replaceFilesAtomic(writes.map((w) => ({ path: w.path, data: w.value, mode: w.secret ? 0o600 : 0o644 })));
      for (const ns of new Set(writes.map((w) => w.ns))) await bump(ns);
    }),
    delete: (key) => io(key, 'delete', async () => {
      const { ns, path } = layout.pathOf(key);
      try {
        await unlink(path);
        await fsyncDir(dirname(path));
      } catch (err) {
        if (!missing(err) && (err as NodeJS.ErrnoException).code !== 'EISDIR') throw err;
      }
      await bump(ns);
    }),
    list: (prefix) => io(prefix, 'list', async () => {
      const { ns, path, segments } = layout.pathOf(prefix, 'prefix');
      const keys: string[] = [];
      await walk(ns, path, segments, segments.length === 1, keys);
      return keys.sort();
    }),
    stat: (key) => io(key, 'stat', async () => {
      const { path } = layout.pathOf(key);
      let st: Stats;
      try {
        st = await lstat(path);
      } catch (err) {
        if (missing(err)) return null;
        throw err;
      }
      if (st.isSymbolicLink()) throw symlinkRefused(key, path);
      return st.isFile() ? { size: st.size, modified: st.mtime } : null;
    }),
    // The lease manager checks names and closing itself; its rejections (timeouts, aborts) pass unchanged.
    lock: (name, lockOpts) => leases.lock(name, lockOpts),
    watch(prefix, onChange) {
      if (closed) throw new StorageError(ErrorCodes.STORAGE, prefix, `cannot watch ${prefix}: the storage (${describe()}) is closed`);
      const { ns } = layout.pathOf(prefix, 'prefix');
      const file = layout.generationFile(ns);
      // Each bump is a rename, so the inode changes even when two bumps land in the same mtime tick.
      const listener = (curr: Stats, prev: Stats) => {
        if (curr.ino !== prev.ino || curr.mtimeMs !== prev.mtimeMs || curr.size !== prev.size) onChange();
      };
      watchFile(file, { interval: opts.pollIntervalMs ?? 500, persistent: false }, listener);
      const w = { close: () => { unwatchFile(file, listener); watchers.delete(w); } };
      watchers.add(w);
      return w;
    },
    describe,
    async close() {
      if (closed) return;
      closed = true;
      for (const w of [...watchers]) w.close();
      await leases.close();
    },
  };
}
