/**
 * Process-tree readings from /proc: resident memory (VmRSS) and CPU time (utime+stime) of a process and
 * all its descendants, so a proxy with a master and workers (nginx, a multi-worker edge) is read whole.
 * CLI: `node proc.mjs rss PID` prints KiB; `node proc.mjs cpu PID` prints clock ticks;
 * `node proc.mjs tree PID` prints the PIDs of the live tree.
 */
import { readdirSync, readFileSync } from 'node:fs';

function statFields(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may contain spaces and parentheses: fields start after the last ')'.
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** pid and every live descendant. */
export function processTree(root) {
  const children = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const f = statFields(d);
    if (!f) continue;
    const ppid = Number(f[1]);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(Number(d));
  }
  const out = [];
  const stack = [Number(root)];
  while (stack.length) {
    const p = stack.pop();
    out.push(p);
    for (const c of children.get(p) ?? []) stack.push(c);
  }
  return out;
}

export function rssKb(pid) {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export function rssTreeKb(root) {
  return processTree(root).reduce((sum, p) => sum + rssKb(p), 0);
}

/** utime+stime in clock ticks (USER_HZ, 100 on Linux) summed over the tree. */
export function cpuTicksTree(root) {
  return processTree(root).reduce((sum, p) => {
    const f = statFields(p);
    return f ? sum + Number(f[11]) + Number(f[12]) : sum;
  }, 0);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [what, pid] = process.argv.slice(2);
  if (what === 'rss') process.stdout.write(`${rssTreeKb(pid)}\n`);
  else if (what === 'cpu') process.stdout.write(`${cpuTicksTree(pid)}\n`);
  else if (what === 'tree') process.stdout.write(`${processTree(pid).filter((p) => statFields(p)).join(' ')}\n`);
  else { process.stderr.write('usage: proc.mjs rss|cpu|tree PID\n'); process.exit(2); }
}
