/** The VMM's own exit codes are ones the debug-exit port cannot produce (issue: a guest writing 0 looked like a crash). */
import { DebugExit } from '@ts-vmm/devices';
import { describe, expect, it } from 'vitest';
import { EXIT_CODES, type StopReason, stopResult } from './exit-codes.js';

/** The process exit status for a debug-exit write of `value` (what the shell sees: the low 8 bits). */
function debugExitStatus(value: number, size = 1): number {
  let code = -1;
  const dev = new DebugExit({ onExit: (c) => (code = c) });
  const data = new Uint8Array(4);
  new DataView(data.buffer).setUint32(0, value, true);
  dev.write(0, data.subarray(0, size));
  return code & 0xff;
}

describe('exit codes', () => {
  it('the debug-exit port produces odd statuses only, so no VMM ending but 141/143 collides with it', () => {
    const port = new Set<number>();
    for (let v = 0; v < 256; v++) port.add(debugExitStatus(v));
    for (const v of [0x100, 0x1234, 0xffff, 0x7fffffff, 0xffffffff]) port.add(debugExitStatus(v, 4));
    for (const s of port) expect(s % 2, `status ${s}`).toBe(1);
    const collide = Object.entries(EXIT_CODES).filter(([, code]) => port.has(code));
    expect(collide.map(([reason]) => reason).sort()).toEqual(['output-closed', 'sigterm']);
    // The documented overlaps: a guest writing 70 or 71 ends with 141 or 143.
    expect(debugExitStatus(70)).toBe(EXIT_CODES['output-closed']);
    expect(debugExitStatus(71)).toBe(EXIT_CODES.sigterm);
  });

  it('a guest writing 0 (success) is not a VMM error; the reason tells the overlaps apart', () => {
    expect(debugExitStatus(0)).toBe(1);
    expect(EXIT_CODES.error).not.toBe(1);
    expect(stopResult('debug-exit', undefined, 1)).toEqual({ reason: 'debug-exit', exitCode: 1 });
    expect(stopResult('error', 'boom')).toEqual({
      reason: 'error',
      exitCode: EXIT_CODES.error,
      detail: 'boom',
    });
    expect(stopResult('debug-exit', undefined, 143).reason).not.toBe(stopResult('sigterm').reason);
  });

  it('gives each ending its own code (sysexits for usage and errors, signal codes kept)', () => {
    expect(EXIT_CODES).toMatchObject({
      poweroff: 0,
      reboot: 2,
      panic: 4,
      'triple-fault': 6,
      usage: 64,
      error: 70,
      sigint: 130,
      'output-closed': 141,
      sigterm: 143,
    });
    const reasons: Exclude<StopReason, 'debug-exit' | 'user-quit'>[] = [
      'poweroff',
      'reboot',
      'panic',
      'triple-fault',
      'error',
      'sigint',
      'sigterm',
      'output-closed',
    ];
    const codes = reasons.map((r) => stopResult(r).exitCode);
    expect(new Set(codes).size).toBe(codes.length);
  });
});
