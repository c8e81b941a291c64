/**
 * Crash-safe file writes for the certificate store: write a temp file in the same directory, fsync it,
 * rename it over the target, fsync the directory. rename(2) is atomic within a file system, so a reader sees
 * the old file or the new one, never half of either (certmagic filestorage.go does the same).
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, rename, rm } from 'node:fs/promises';
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

/** Writes `data` to `file` atomically with the given mode; the temp file never outlives a failed write. */
export async function writeFileAtomic(file: string, data: string, mode: number): Promise<void> {
  const dir = dirname(file);
  const tmp = join(dir, `.${basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  // 'wx': never follow or reuse an existing file; the mode is applied at creation, so a key is never
  // readable by others even for an instant.
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode); // the umask may have narrowed or the mode may have been widened elsewhere
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(dir);
}

/** Creates `dir` (and parents) and makes it 0700: certificate folders hold private keys. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}
