#!/usr/bin/env node
/**
 * `ts-vmm`: the reference microVM monitor's command line. See `ts-vmm --help`.
 *
 * @module
 */
import { realDeps } from './cli/deps.js';
import { runProcess } from './cli/process.js';

await runProcess(process.argv.slice(2), realDeps());
