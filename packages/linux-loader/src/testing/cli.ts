/**
 * Test helpers that run command-line tools (Node only: they use `node:child_process`).
 *
 * @module
 */
import { spawnSync } from 'node:child_process';

/**
 * True when a command is on PATH.
 * @example if (!have('lz4')) console.log('skipped: lz4 not installed');
 */
export function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/**
 * Compresses with the lz4 CLI in the legacy frame format (`lz4 -l`), as the kernel build does.
 * @example const payload = lz4Legacy(vmlinux); // starts with the legacy magic 02 21 4c 18
 */
export function lz4Legacy(data: Uint8Array): Uint8Array {
  const r = spawnSync('lz4', ['-l', '-c', '-9'], { input: data, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`lz4 failed: ${r.stderr}`);
  return new Uint8Array(r.stdout);
}
