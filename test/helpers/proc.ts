/** Process checks for tests that must prove a process is gone (Linux /proc). */
import { readFileSync } from 'node:fs';

/** true when `pid` no longer runs: no such process, or a zombie that only waits to be reaped (a container's PID 1 may never reap it). */
export function processGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X';
  } catch {
    return true;
  }
}
