/**
 * Crash-safe file writes for the file storage. A value is written to a temp file in the same directory,
 * fsynced, renamed over the target, and the directory fsynced: rename(2) is atomic within a file system, so
 * a reader sees the old file or the new one, never half of either (certmagic filestorage.go does the same).
 * An exclusive create links a fully written temp file into place: link(2) fails if the target exists, so the
 * file is never visible half-written, not even after a full disk or a crash (an empty lock file blocked for
 * 10 minutes when it was written in place).
 */
import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, open, rename, rm } from 'node:fs/promises';
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
