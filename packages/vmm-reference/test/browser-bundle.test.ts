/**
 * The portable core bundles for a browser: the root entries of @ts-vmm/hypervisor, vm-memory,
 * devices, linux-loader and x86-emulator are bundled by esbuild for `platform: 'browser'` (which
 * refuses any `node:` import), and the bundle then runs in a fresh V8 context that has only what a
 * browser Web Worker has (no `process`, `Buffer`, `require`, `setImmediate`, `global`): it boots a
 * small real-mode guest on the emulator that prints through the 16550A serial model, and lays out a
 * zero page with the loader. Needs the packages built (`turbo run test` builds first).
 */
import { runInBrowserWorker } from '@ts-vmm/hypervisor/testing';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const PORTABLE = [
  '@ts-vmm/hypervisor',
  '@ts-vmm/vm-memory',
  '@ts-vmm/devices',
  '@ts-vmm/linux-loader',
  '@ts-vmm/x86-emulator',
];

// The program run inside the browser-like context: a real-mode guest writes "ok\n" to COM1 through
// the device model, then halts; the loader builds a command line and an E820 map.
const PROGRAM = `
import { zeroRegs } from '@ts-vmm/hypervisor';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { Serial } from '@ts-vmm/devices';
import * as loader from '@ts-vmm/linux-loader';
import { EmulatedHypervisor } from '@ts-vmm/x86-emulator';

export async function main() {
  const memory = GuestMemory.createShared([{ start: 0, size: 0x100000 }]);
  // mov dx, 0x3f8; mov al, 'o'; out dx, al; mov al, 'k'; out dx, al; mov al, 10; out dx, al; hlt
  memory.writeBytes(0x1000, new Uint8Array([0xba, 0xf8, 0x03, 0xb0, 0x6f, 0xee, 0xb0, 0x6b, 0xee, 0xb0, 0x0a, 0xee, 0xf4]));
  let out = '';
  const serial = new Serial({ sink: { write: (b) => { out += String.fromCharCode(...b); return true; } } });
  const hv = new EmulatedHypervisor();
  const vm = await hv.createVm({ memory });
  const vcpu = vm.createVcpu(0);
  const sregs = vcpu.getSregs();
  sregs.cs = { ...sregs.cs, base: 0n, selector: 0 };
  vcpu.setSregs(sregs);
  vcpu.setRegs({ ...zeroRegs(), rip: 0x1000n });
  for (let i = 0; i < 100; i++) {
    const exit = vcpu.run();
    if (exit.kind === 'io-out' && exit.port >= 0x3f8 && exit.port < 0x400) serial.write(exit.port - 0x3f8, exit.data.subarray(0, exit.size));
    else if (exit.kind === 'hlt') break;
  }
  vcpu.close();
  vm.close();
  return { out, loaderExports: Object.keys(loader).length };
}
`;

describe('browser bundle of the portable core', () => {
  it('bundles for platform browser with no node: import and runs without Node globals', async () => {
    const result = await build({
      stdin: { contents: PROGRAM, resolveDir: import.meta.dirname, loader: 'ts' },
      bundle: true,
      platform: 'browser',
      format: 'iife',
      globalName: 'portable',
      write: false,
      metafile: true,
      logLevel: 'silent',
      // Resolve the packages as a browser bundler would: their "browser"/"import" conditions.
      conditions: ['browser', 'import'],
    });
    const inputs = Object.keys(result.metafile.inputs);
    for (const pkg of PORTABLE.slice(1)) {
      const dir = pkg.replace('@ts-vmm/', '');
      expect(
        inputs.some((p) => p.includes(`${dir}/dist/`)),
        `${pkg} is in the bundle`,
      ).toBe(true);
    }
    expect(inputs.filter((p) => p.startsWith('node:'))).toEqual([]);
    const code = result.outputFiles[0].text;
    expect(code).not.toMatch(/\brequire\(\s*["']node:/);

    const { main } = runInBrowserWorker<{ main(): Promise<{ out: string; loaderExports: number }> }>(
      code,
      'portable',
    );
    const { out, loaderExports } = await main();
    expect(out).toBe('ok\n');
    expect(loaderExports).toBeGreaterThan(0);
  }, 60_000);
});
