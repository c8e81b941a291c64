/**
 * Storage faults that root cannot bypass, for the storage fault tests: a small tmpfs (it fills up), a
 * read-only remount, an immutable file (chattr +i). Each helper returns null or false when the environment
 * forbids it (not root, no mount in a container), so the test can skip with the reason; every mount and
 * flag is undone after the test, and then `removeAfter` (the test's temp dir, which cleanups registered
 * earlier could not remove while the mount or flag was in place) is removed.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';

type Ctx = { after(fn: () => unknown): void };

function run(cmd: string, args: string[]): string | null {
  try {
    execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    return null;
  } catch (err) {
    return `${cmd} ${args.join(' ')}: ${(err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message}`;
  }
}

const remove = (dir: string | undefined) => { if (dir) rmSync(dir, { recursive: true, force: true }); };

/** Mounts a tmpfs of `kib` KiB on `dir` (created); returns the reason when it cannot. */
export function mountTmpfs(t: Ctx, dir: string, kib: number, removeAfter?: string): string | null {
  mkdirSync(dir, { recursive: true });
  const why = run('mount', ['-t', 'tmpfs', '-o', `size=${kib}k,mode=0755`, 'tmpfs', dir]);
  if (why === null) t.after(() => { run('umount', ['-l', dir]); remove(removeAfter); });
  return why;
}

/** Remounts the tmpfs on `dir` read-only or read-write; returns the reason when it cannot. */
export function remount(dir: string, mode: 'ro' | 'rw'): string | null {
  return run('mount', ['-o', `remount,${mode}`, dir]);
}

/** Makes `file` immutable (chattr +i: not even root may replace it) until the test ends; the reason when it cannot. */
export function makeImmutable(t: Ctx, file: string, removeAfter?: string): string | null {
  const why = run('chattr', ['+i', file]);
  if (why === null) t.after(() => { run('chattr', ['-i', file]); remove(removeAfter); });
  return why;
}

/** Undoes makeImmutable before the test ends. */
export function makeMutable(file: string): string | null {
  return run('chattr', ['-i', file]);
}
