/**
 * Kernels the reference VMM boots besides Linux: a multiboot v1 kernel (ELF32 at 1 MiB, and a flat
 * image with the header's address fields at 0x8000) run through `ts-vmm run` as a process, and an
 * ELF64 kernel that loads at 0x8000, where the default boot data (stack, page tables) would go.
 * Each runs on the emulated backend and on KVM when /dev/kvm is here.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasKvm } from '@ts-vmm/kvm-ioctls';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/resolve.js';
import { backendAvailable } from '../src/vmm/backend.js';
import { EXIT_CODES } from '../src/vmm/exit-codes.js';
import { Vmm } from '../src/vmm/vmm.js';

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const source = fileURLToPath(new URL('./fixtures/multiboot-kernel.c', import.meta.url));
const tsx = createRequire(import.meta.url).resolve('tsx/cli');
const dir = mkdtempSync(join(tmpdir(), 'kernel-formats-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const kvm = hasKvm();
const emulated = (await backendAvailable('emulated')).ok;
const backends = [
  { name: 'emulated', ok: emulated, why: 'the emulated backend is not available' },
  { name: 'kvm', ok: kvm, why: '/dev/kvm is not available' },
] as const;
for (const b of backends) if (!b.ok) console.log(`skipped: kernel-format boots on ${b.name} (${b.why})`);

/** Builds the fixture kernel at `load` (ELF32, or a flat image with the address fields). */
function buildMultiboot(name: string, load: number, aout: boolean): { path?: string; why?: string } {
  const script = join(dir, `${name}.ld`);
  writeFileSync(
    script,
    `ENTRY(start)
SECTIONS {
  . = 0x${load.toString(16)};
  __load_start = .;
  .text : { *(.multiboot) *(.text*) }
  .rodata : { *(.rodata*) }
  .data : { *(.data*) }
  __load_end = .;
  .bss : { *(.bss*) *(COMMON) }
  __bss_end = .;
  /DISCARD/ : { *(.note*) *(.comment) *(.eh_frame*) }
}
`,
  );
  const elf = join(dir, `${name}.elf`);
  const gcc = spawnSync(
    'gcc',
    [
      '-m32',
      '-ffreestanding',
      '-fno-builtin',
      '-nostdlib',
      '-fno-pic',
      '-no-pie',
      '-fno-stack-protector',
      '-fno-asynchronous-unwind-tables',
      '-Os',
      '-static',
      ...(aout ? ['-DAOUT_KLUDGE'] : []),
      `-Wl,-T,${script}`,
      '-Wl,--build-id=none',
      '-Wl,--no-warn-rwx-segments',
      '-o',
      elf,
      source,
    ],
    { encoding: 'utf8' },
  );
  if (gcc.error || gcc.status !== 0)
    return {
      why: `gcc -m32 cannot build it (${gcc.error?.message ?? gcc.stderr.trim().split('\n').at(-1)})`,
    };
  if (!aout) return { path: elf };
  const bin = join(dir, `${name}.bin`);
  const objcopy = spawnSync('objcopy', ['-O', 'binary', elf, bin], { encoding: 'utf8' });
  if (objcopy.error || objcopy.status !== 0)
    return { why: `objcopy cannot make the flat image (${objcopy.error?.message ?? objcopy.stderr.trim()})` };
  return { path: bin };
}

const initrd = join(dir, 'initrd.img');
writeFileSync(initrd, 'INITRD-CONTENT-0123456789');
const kernels = [
  { name: 'ELF32 multiboot kernel at 1 MiB', load: 0x10_0000, ...buildMultiboot('high', 0x10_0000, false) },
  {
    name: 'multiboot kernel with address fields at 0x8000',
    load: 0x8000,
    ...buildMultiboot('low', 0x8000, true),
  },
];
for (const k of kernels) if (k.why) console.log(`skipped: ${k.name} (${k.why})`);

function tsVmm(args: string[]) {
  return spawnSync(process.execPath, [tsx, cli, ...args], { encoding: 'utf8', timeout: 120_000, input: '' });
}

describe('multiboot kernels through ts-vmm run', () => {
  for (const b of backends) {
    for (const k of kernels) {
      it.skipIf(!b.ok || !k.path)(
        `${k.name} on ${b.name}: EAX magic, info structure, COM1, debug-exit`,
        () => {
          const memoryMib = 64;
          const r = tsVmm([
            'run',
            '--backend',
            b.name,
            '--kernel',
            k.path!,
            '--initrd',
            initrd,
            '--memory',
            String(memoryMib),
            '--cmdline',
            'mbtest one=1',
          ]);
          const out = `${r.stdout}\n${r.stderr}`;
          // The kernel ends with 0x10 on the debug-exit port once every check it makes has held.
          expect(r.stdout, out).toContain('all checks passed');
          expect(r.status, out).toBe((0x10 << 1) | 1);
          expect(r.stderr).toContain('guest stopped (debug-exit');
          expect(r.stderr).toMatch(/kernel: multiboot \((ELF32|address fields)\) 32-bit entry/);
          expect(r.stdout).toContain('mb: cs 0x00000020');
          // mem_lower: RAM below the EBDA (0x9fc00 = 639 KiB); mem_upper: RAM from 1 MiB.
          expect(r.stdout).toContain(`mb: mem_lower 639 KiB mem_upper ${(memoryMib << 10) - 1024} KiB`);
          expect(r.stdout).toContain(`RAM ${639 + (memoryMib << 10) - 1024} KiB`);
          expect(r.stdout).toMatch(/mb: cmdline \[mbtest one=1[ \]]/);
          expect(r.stdout).toContain('mb: boot loader [ts-vmm]');
          expect(r.stdout).toContain(
            'mb: module 0 [initrd] 25 bytes, page aligned yes, starts [INITRD-CONTENT-0]',
          );
          expect(r.stdout).toContain(`mb: loaded at 0x${k.load.toString(16).padStart(8, '0')}`);
          if (k.load < 0x10_0000)
            expect(r.stderr).toContain('boot data moved off the kernel: multiboot information');
        },
      );
    }
  }
});

/**
 * An ELF64 kernel with one segment [0x8000, 0xc000): its entry at 0x9000 (where the PML4 goes by
 * default), its message at 0xa000 (the PDPT's default place). Entered through the 64-bit boot
 * protocol, it checks that RSI (zero page), RSP (stack) and CR3 (page tables) lie outside it, prints
 * the message and writes 0x10 to the debug-exit port; 1 when a check fails.
 */
function lowElf64(message: string): Uint8Array {
  const base = 0x8000;
  const size = 0x4000;
  const outside = (load: number[]) => [
    ...load,
    ...[0x48, 0x2d, 0x00, 0x80, 0x00, 0x00], // sub rax, 0x8000
    ...[0x48, 0x3d, 0x00, 0x40, 0x00, 0x00], // cmp rax, 0x4000
    0x72,
    0, // jb bad (patched)
  ];
  const checks = [
    outside([0x48, 0x89, 0xf0]), // mov rax, rsi
    outside([0x48, 0x8d, 0x44, 0x24, 0xf8]), // lea rax, [rsp - 8]
    outside([0x0f, 0x20, 0xd8]), // mov rax, cr3
  ];
  const code: number[] = checks.flat();
  const leaAt = code.length;
  code.push(0x48, 0x8d, 0x35, 0, 0, 0, 0); // lea rsi, [rip + msg]
  code.push(0x66, 0xba, 0xf8, 0x03, 0xac, 0x84, 0xc0, 0x74, 0x03, 0xee, 0xeb, 0xf8); // print until NUL
  code.push(0xb0, 0x10, 0xe6, 0xf4, 0xf4); // mov al, 0x10; out 0xf4, al; hlt
  const bad = code.length;
  code.push(0xb0, 0x01, 0xe6, 0xf4, 0xf4); // mov al, 1; out 0xf4, al; hlt
  let at = 0;
  for (const c of checks) {
    at += c.length;
    code[at - 1] = bad - at;
  }
  const entry = 0x9000;
  const msg = 0xa000;
  const rel = msg - (entry + leaAt + 7);
  code.splice(leaAt + 3, 4, rel & 0xff, (rel >> 8) & 0xff, (rel >> 16) & 0xff, (rel >> 24) & 0xff);

  const fileOff = 0x1000;
  const image = new Uint8Array(fileOff + size);
  const v = new DataView(image.buffer);
  image.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]); // ELF64, little-endian, version 1
  v.setUint16(16, 2, true); // ET_EXEC
  v.setUint16(18, 0x3e, true); // EM_X86_64
  v.setUint32(20, 1, true);
  v.setBigUint64(24, BigInt(entry), true);
  v.setBigUint64(32, 64n, true); // e_phoff
  v.setUint16(52, 64, true); // e_ehsize
  v.setUint16(54, 56, true); // e_phentsize
  v.setUint16(56, 1, true); // e_phnum
  v.setUint32(64, 1, true); // PT_LOAD
  v.setUint32(68, 7, true); // RWX
  v.setBigUint64(72, BigInt(fileOff), true);
  v.setBigUint64(80, BigInt(base), true);
  v.setBigUint64(88, BigInt(base), true);
  v.setBigUint64(96, BigInt(size), true);
  v.setBigUint64(104, BigInt(size), true);
  v.setBigUint64(112, 0x1000n, true);
  image.set(code, fileOff + entry - base);
  image.set(new TextEncoder().encode(`${message}\0`), fileOff + msg - base);
  return image;
}

describe('an ELF64 kernel loaded at 0x8000', () => {
  for (const b of backends) {
    it.skipIf(!b.ok)(`boots on ${b.name}: the boot data goes around it`, async () => {
      const path = join(dir, 'low64.elf');
      writeFileSync(path, lowElf64('low kernel intact\r\n'));
      expect(readFileSync(path).length).toBe(0x5000);
      let out = '';
      const logs: string[] = [];
      const vmm = await Vmm.create(
        { ...resolveConfig({ flags: { backend: b.name, memoryMib: 16 } }), kernel: path },
        {
          input: null,
          output: {
            write: (c: Uint8Array) => {
              out += Buffer.from(c).toString('latin1');
              return true;
            },
          },
          log: (l) => logs.push(l),
          handleSignals: false,
        },
      );
      const result = await vmm.run();
      expect(result, `${out}\n${logs.join('\n')}`).toMatchObject({ reason: 'debug-exit', exitCode: 0x21 });
      expect(out).toContain('low kernel intact');
      const summary = logs.find((l) => l.startsWith('kernel:')) ?? '';
      expect(summary).toContain('loaded 0x8000-0xc000');
      expect(summary).toMatch(/boot data moved off the kernel: page tables 0x[0-9a-f]+, boot stack 0x/);
      expect(EXIT_CODES.error).not.toBe(result.exitCode);
    });
  }
});
