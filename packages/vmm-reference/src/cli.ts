#!/usr/bin/env node
/**
 * `ts-vmm`: the reference microVM monitor's command line. See `ts-vmm --help`.
 *
 * @module
 */
import { realDeps } from './cli/deps.js';
import { runCli } from './cli/main.js';

const code = await runCli(process.argv.slice(2), realDeps(), {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
});
process.exitCode = code;
