#!/usr/bin/env node
// Entry point for the `idcs-edge` binary. Node 24 runs the TypeScript sources directly (type stripping).
//
// Node opens its inspector on 127.0.0.1:9229 when it receives SIGUSR1, and through it any local process
// could run code inside the edge. `--disable-sigusr1` turns that off; this file runs under whatever `node`
// is on PATH, so without the flag it replaces itself (same pid, so tini, systemd and Docker keep tracking
// it) by a Node that has it. Workers forked by node:cluster inherit the flag. src/signals.ts also ignores
// SIGUSR1 once the edge runs, for a start without the flag.
if (!process.execArgv.includes('--disable-sigusr1') && typeof process.execve === 'function') {
  try {
    process.execve(process.execPath, [process.execPath, '--disable-sigusr1', ...process.execArgv, ...process.argv.slice(1)], process.env);
  } catch {
    // Not allowed here (a sandbox without execve): the edge's own SIGUSR1 listener still keeps the inspector off.
  }
}

const { main, exitWith } = await import('../src/cli.ts');
exitWith(await main(process.argv.slice(2)));
