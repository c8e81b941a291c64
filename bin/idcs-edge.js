#!/usr/bin/env node
// Entry point for the `idcs-edge` binary. Node 24 runs the TypeScript sources directly (type stripping).
import { main } from '../src/cli.ts';

process.exitCode = await main(process.argv.slice(2));
