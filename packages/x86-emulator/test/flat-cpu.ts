/** Test and bench helper: a CPU ready to run code at CPL3 in the flat long-mode image. */

import { zeroRegs } from '@ts-vmm/hypervisor';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { Cpu, type CpuOptions } from '../src/cpu.js';
import { buildFlatImage, FLAT, flatSregs } from '../src/testing.js';

/** A 4 KiB page of pseudo-random bytes (xorshift32 from `seed`): the same bytes for the same seed. */
export function patternPage(seed: number): Uint8Array {
  const page = new Uint8Array(4096);
  for (let k = 0, x = seed; k < page.length; k++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    page[k] = x & 0xff;
  }
  return page;
}

/**
 * A CPU in a fresh flat long-mode image (RAM in a WebAssembly.Memory unless `options.jit` is 'js') with `code` at `FLAT.CODE` and `data` at `FLAT.DATA`:
 * RIP at the code, RSP at the user stack, R15 pointing at the data, IF set.
 */
export function flatCpu(
  code: Uint8Array,
  data: Uint8Array,
  options: CpuOptions,
): { cpu: Cpu; mem: GuestMemory } {
  // WebAssembly-backed RAM unless the JavaScript block compiler is asked for
  const spec = [{ start: 0, size: FLAT.RAM_SIZE }];
  const mem = options.jit === 'js' ? GuestMemory.createShared(spec) : GuestMemory.createWasm(spec);
  buildFlatImage(mem);
  mem.writeBytes(FLAT.CODE, code);
  mem.writeBytes(FLAT.DATA, data);
  const cpu = new Cpu(mem, options);
  cpu.setSregs(flatSregs());
  cpu.setRegs({
    ...zeroRegs(),
    rip: BigInt(FLAT.CODE),
    rsp: BigInt(FLAT.USER_STACK),
    r15: BigInt(FLAT.DATA),
    rflags: 0x202n,
  });
  return { cpu, mem };
}
