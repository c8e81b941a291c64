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
// The flags the edge runs with (./idcs-edge, the Dockerfile and `npm start` pass the same):
// - `--disable-sigusr1`: Node opens its inspector on 127.0.0.1:9229 when it receives SIGUSR1, and through it
//   any local process could run code inside the edge. src/signals.ts also ignores SIGUSR1 once the edge
//   runs, for a start without the flag.
// - `--max-semi-space-size=4` (MiB): V8's young generation is sized for the machine (32 MiB semi-spaces on
//   a big host). Measured on the bench host: applying 100,000 routes peaked at 561 MB RSS (JSON) and 638 MB
//   (YAML) with the default and 436 / 482 MB with 4 MiB, while proxied HTTP requests cost no more CPU
//   (40-41 µs vs 43-45 µs per request): a proxy's per-request garbage dies young either way.
// This file runs under whatever `node` is on PATH, so without a flag it replaces itself (same pid, so tini,
// systemd and Docker keep tracking it) by a Node that has it; one the operator gave (another semi-space
// size) is kept. Workers forked by node:cluster inherit the flags.
const NODE_FLAGS = ['--disable-sigusr1', '--max-semi-space-size=4'];
const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].map((a) => a.split('=')[0]);
const missing = NODE_FLAGS.filter((f) => !given.includes(f.split('=')[0]));
if (missing.length > 0 && typeof process.execve === 'function') {
  try {
    process.execve(process.execPath, [process.execPath, ...missing, ...process.execArgv, ...process.argv.slice(1)], process.env);
  } catch {
    // Not allowed here (a sandbox without execve): the edge's own SIGUSR1 listener still keeps the inspector off.
  }
}

const { main, exitWith } = await import('../src/cli.ts');
exitWith(await main(process.argv.slice(2)));
