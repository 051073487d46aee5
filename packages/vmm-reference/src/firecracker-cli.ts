#!/usr/bin/env node
/**
 * `ts-vmm-firecracker`: Firecracker's process interface on ts-vmm (the same as
 * `ts-vmm firecracker`), so an orchestrator can be pointed at it as its firecracker binary.
 *
 * @module
 */
import { realDeps } from './cli/deps.js';
import { runProcess } from './cli/process.js';

await runProcess(['firecracker', ...process.argv.slice(2)], realDeps());
