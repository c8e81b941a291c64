#!/usr/bin/env node
// Entry point for the `idcs-edge` binary. Node 24 runs the TypeScript sources directly (type stripping);
// an older Node cannot, so it is refused first with one line that says what to run instead. This file
// itself parses on any Node that has ES modules.
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  process.stderr.write(`idcs-edge needs Node 24, this is Node ${process.versions.node}: run ./idcs-edge in the checkout `
    + '(it uses the Node 24 that npm ci installs in node_modules/.bin), or install Node 24 (https://nodejs.org/en/download)\n');
  process.exit(1);
}
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
