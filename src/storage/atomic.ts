/**
 * Crash-safe file writes for the file storage. A value is written to a temp file in the same directory,
 * fsynced, renamed over the target, and the directory fsynced: rename(2) is atomic within a file system, so
 * a reader sees the old file or the new one, never half of either (certmagic filestorage.go does the same).
 * An exclusive create links a fully written temp file into place: link(2) fails if the target exists, so the
 * file is never visible half-written, not even after a full disk or a crash (an empty lock file blocked for
 * 10 minutes when it was written in place).
 * Several files that belong together (a certificate, its key, its metadata) are replaced as a set: every new
 * value is written first, so a full disk fails before anything changed; the old files are kept as links
 * until all new ones are in place, so a file that cannot be replaced (immutable, a folder in its way) puts
 * the others back. Only a crash between the renames (microseconds) can leave a mixed set, which readers
 * detect (tls/store.ts checks the set is consistent).
 */
import { randomBytes } from 'node:crypto';
import { chmod, link, lstat, mkdir, open, readdir, rename, rm, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Flushes a directory's entries (the rename itself) to disk. Some file systems refuse; that is not fatal. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // EISDIR/EINVAL/EPERM on file systems without directory fsync: the rename is still atomic.
  } finally {
    await fh?.close();
  }
}

/** A temp name next to `file`. Dot-leading, so no storage key and no ACME token can ever name it. */
function tempFor(file: string): string {
  return join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/** Writes and fsyncs a new temp file next to `file`; returns its path. The temp file never outlives a failure. */
async function writeTemp(file: string, data: string | Buffer, mode: number): Promise<string> {
  const tmp = tempFor(file);
  // 'wx': never follow or reuse an existing file; the mode is applied at creation, so a key is never
  // readable by others even for an instant.
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode); // the umask may have narrowed the mode
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  return tmp;
}

/** Writes `data` to `file` atomically with the given mode. */
export async function writeFileAtomic(file: string, data: string | Buffer, mode: number): Promise<void> {
  const tmp = await writeTemp(file, data, mode);
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(dirname(file));
}

/** Creates `file` with `data` unless it exists; false when it does. Readers never see it incomplete. */
export async function createFileExclusive(file: string, data: string | Buffer, mode: number): Promise<boolean> {
  const tmp = await writeTemp(file, data, mode);
  try {
    await link(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Creates `dir` (and parents) and gives it `mode`: 0700 where private keys may live. */
export async function ensureDir(dir: string, mode: number): Promise<void> {
  await mkdir(dir, { recursive: true, mode });
  await chmod(dir, mode);
}

export interface FileWrite {
  readonly path: string;
  readonly data: string | Buffer;
  readonly mode: number;
}

/** A backup name next to `file` for the set being replaced; dot-leading like temp files. */
const backupFor = (file: string) => join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.old`);

/**
 * Replaces every file of `writes` with its new value, or none of them (see the module comment): rejects with
 * the first error, having removed every temp file and restored every file it had replaced.
 */
export async function replaceFilesAtomic(writes: readonly FileWrite[]): Promise<void> {
  const temps: string[] = [];
  const backups: Array<string | null> = [];
  const placed: number[] = [];
  try {
    for (const w of writes) temps.push(await writeTemp(w.path, w.data, w.mode));
    for (const w of writes) {
      // A hard link keeps the old value without copying it: it needs no space beyond a directory entry.
      const bak = backupFor(w.path);
      try {
        await link(w.path, bak);
        backups.push(bak);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        backups.push(null);
      }
    }
    for (const [i, w] of writes.entries()) {
      await rename(temps[i]!, w.path);
      placed.push(i);
    }
  } catch (err) {
    // Put back what was replaced; a new file that had no predecessor goes again.
    for (const i of placed.reverse()) {
      const bak = backups[i];
      await (bak ? rename(bak, writes[i]!.path) : unlink(writes[i]!.path)).catch(() => {});
    }
    await Promise.all([...temps, ...backups].map((f) => (f ? rm(f, { force: true }) : undefined)));
    throw err;
  }
  await Promise.all(backups.map((b) => (b ? rm(b, { force: true }) : undefined)));
  for (const dir of new Set(writes.map((w) => dirname(w.path)))) await fsyncDir(dir);
}

/** Temp and backup files: `.<name>.<pid>.<12 hex>.tmp|old`. */
const LEFTOVER = /^\.[^/]+\.(\d+)\.[0-9a-f]{12}\.(tmp|old)$/;
/** Older than this, a leftover of a pid that is not alive here is no write in progress on another host either. */
export const LEFTOVER_AGE_MS = 60_000;

/** true while a process with this pid runs on this host (EPERM: it exists but belongs to someone else). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temp and backup files in `dir` that a killed process left (a private key among them, 0600,
 * never served but not to be kept either); resolves to how many. Best effort: errors are ignored.
 */
export async function sweepLeftovers(dir: string, now = Date.now()): Promise<number> {
  let n = 0;
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    const m = LEFTOVER.exec(name);
    if (!m || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
    const st = await lstat(join(dir, name)).catch(() => null);
    if (!st?.isFile() || now - st.mtimeMs < LEFTOVER_AGE_MS) continue;
    if (await rm(join(dir, name), { force: true }).then(() => true, () => false)) n++;
  }
  return n;
}
