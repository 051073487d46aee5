/** Test helper: assembles Intel-syntax source with GNU as (binutils) into raw bytes. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let available: boolean | undefined;

/** Whether GNU as and objcopy can be run. */
export function hasAssembler(): boolean {
  if (available === undefined) {
    try {
      execFileSync('as', ['--version'], { stdio: 'ignore' });
      execFileSync('objcopy', ['--version'], { stdio: 'ignore' });
      available = true;
    } catch {
      available = false;
    }
  }
  return available;
}

/** Assembles `src` (Intel syntax) for `bits` (16, 32, 64) at origin 0. */
export function assemble(src: string, bits: 16 | 32 | 64 = 64): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'x86asm-'));
  try {
    const s = join(dir, 'a.s');
    writeFileSync(s, `.intel_syntax noprefix\n.code${bits}\n${src}\n`);
    execFileSync('as', [bits === 64 ? '--64' : '--32', '-o', join(dir, 'a.o'), s]);
    execFileSync('objcopy', ['-O', 'binary', '-j', '.text', join(dir, 'a.o'), join(dir, 'a.bin')]);
    return new Uint8Array(readFileSync(join(dir, 'a.bin')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
