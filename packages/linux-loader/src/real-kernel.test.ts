/**
 * Loads Debian's cloud kernel (fetched and cached by scripts/fetch-kernel.sh) and checks what the
 * loaders report against values parsed independently: python3 reading the setup header, `file`,
 * `lz4 -dc` for the payload, and `readelf -h -l -n` for the vmlinux.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { afterAll, describe, expect, it } from 'vitest';
import { setupLinuxBoot } from './boot-setup.js';
import { loadBzImage } from './bzimage.js';
import { loadElf } from './elf.js';
import { detectFormat } from './load.js';
import { bzImagePayload, decompressPayload, detectCompression, extractVmlinux } from './payload.js';
import { kernelVersionString, parseSetupHeader } from './setup-header.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const script = path.join(here, '..', 'scripts', 'fetch-kernel.sh');

function fetchKernel(): string | undefined {
  const r = spawnSync('bash', [script], { encoding: 'utf8', timeout: 300_000 });
  const p = r.stdout.trim().split('\n').pop();
  if (r.status === 0 && p && fs.existsSync(p)) return p;
  console.log(
    `skipped: real-kernel tests (fetch-kernel.sh failed: ${(r.stderr || String(r.error)).trim().split('\n').pop()})`,
  );
  return undefined;
}

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

const kernelPath = fetchKernel();
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'linux-loader-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(!kernelPath)('Debian cloud kernel (bzImage)', () => {
  const image = kernelPath ? new Uint8Array(fs.readFileSync(kernelPath)) : new Uint8Array();

  it('parses the setup header as python3 reads it', () => {
    const py = execFileSync(
      'python3',
      [
        '-c',
        `import struct,json,sys
d=open(sys.argv[1],'rb').read()
u8=lambda o:d[o]; u16=lambda o:struct.unpack_from('<H',d,o)[0]; u32=lambda o:struct.unpack_from('<I',d,o)[0]; u64=lambda o:struct.unpack_from('<Q',d,o)[0]
print(json.dumps(dict(magic=u32(0x202),setup_sects=u8(0x1f1) or 4,syssize=u32(0x1f4),version=u16(0x206),loadflags=u8(0x211),
 initrd_addr_max=u32(0x22c),kernel_alignment=u32(0x230),relocatable=u8(0x234),xloadflags=u16(0x236),cmdline_size=u32(0x238),
 payload_offset=u32(0x248),payload_length=u32(0x24c),pref_address=u64(0x258),init_size=u32(0x260),header_end=0x202+u8(0x201))))`,
        kernelPath!,
      ],
      { encoding: 'utf8' },
    );
    const want = JSON.parse(py);
    const h = parseSetupHeader(image);
    expect(want.magic).toBe(0x53726448);
    expect(h.setupSects).toBe(want.setup_sects);
    expect(h.syssize).toBe(want.syssize);
    expect(h.version).toBe(want.version);
    expect(h.version).toBeGreaterThanOrEqual(0x206);
    expect(h.loadflags).toBe(want.loadflags);
    expect(h.initrdAddrMax).toBe(want.initrd_addr_max);
    expect(h.kernelAlignment).toBe(want.kernel_alignment);
    expect(h.relocatable).toBe(want.relocatable !== 0);
    expect(h.xloadflags).toBe(want.xloadflags);
    expect(h.xloadflags & 1).toBe(1);
    expect(h.cmdlineSize).toBe(want.cmdline_size);
    expect(h.payloadOffset).toBe(want.payload_offset);
    expect(h.payloadLength).toBe(want.payload_length);
    expect(h.prefAddress).toBe(want.pref_address);
    expect(h.initSize).toBe(want.init_size);
    expect(h.headerEnd).toBe(Math.min(want.header_end, 0x26c));
    expect(detectFormat(image)).toBe('bzimage');
  });

  it.skipIf(!have('file'))('reports the kernel version that file(1) reads', () => {
    const out = execFileSync('file', ['-b', kernelPath!], { encoding: 'utf8' });
    const m = /version (\S+)/.exec(out);
    expect(out).toMatch(/bzImage/);
    expect(m).not.toBeNull();
    expect(kernelVersionString(image)?.split(' ')[0]).toBe(m![1]);
  });

  it('loads the protected-mode kernel and returns the 64-bit entry', () => {
    const h = parseSetupHeader(image);
    const mem = GuestMemory.createShared([{ start: 0, size: 128 << 20 }]);
    const k = loadBzImage(image, mem);
    expect(k.kernelLoad).toBe(h.prefAddress);
    expect(k.entry).toBe(h.prefAddress + 0x200);
    expect(k.kernelEnd).toBe(h.prefAddress + h.initSize);
    const off = (h.setupSects + 1) * 512;
    const len = Math.min(h.syssize * 16, image.length - off);
    expect(sha(mem.readBytes(k.kernelLoad, len))).toBe(sha(image.subarray(off, off + len)));
    expect(mem.read8(k.kernelLoad - 1)).toBe(0);
    expect(k.setupHeaderBytes).toEqual(image.subarray(0x1f1, h.headerEnd));
  });
});

describe.skipIf(!kernelPath)('Debian cloud kernel (vmlinux extracted from the payload)', () => {
  const image = kernelPath ? new Uint8Array(fs.readFileSync(kernelPath)) : new Uint8Array();
  const vmlinux = kernelPath ? extractVmlinux(image) : new Uint8Array();
  const vmlinuxPath = path.join(tmp, 'vmlinux');
  if (kernelPath) fs.writeFileSync(vmlinuxPath, vmlinux);

  it('decompresses to the same bytes as lz4 -dc', () => {
    const payload = bzImagePayload(image);
    expect(detectCompression(payload)).toBe('lz4');
    if (!have('lz4')) {
      console.log('skipped: lz4 CLI comparison (lz4 not installed)');
      return;
    }
    const payloadPath = path.join(tmp, 'payload.lz4');
    fs.writeFileSync(payloadPath, payload);
    // lz4 exits 1 on the kernel's appended size field after the last frame; the output is complete.
    const r = spawnSync('lz4', ['-dc', payloadPath], { maxBuffer: 1 << 30 });
    expect(sha(r.stdout)).toBe(sha(vmlinux));
  });

  it.skipIf(!have('gzip'))('inflates the same vmlinux gzipped as the kernel build does (gzip -n -9)', () => {
    const z = spawnSync('gzip', ['-n', '-9', '-c'], { input: vmlinux, maxBuffer: 1 << 30 });
    expect(z.status).toBe(0);
    const payload = new Uint8Array(z.stdout.buffer, z.stdout.byteOffset, z.stdout.byteLength);
    expect(detectCompression(payload)).toBe('gzip');
    expect(sha(decompressPayload(payload))).toBe(sha(vmlinux));
    expect(() => decompressPayload(payload, { maxOutput: vmlinux.length - 1 })).toThrow(/exceeds maxOutput/);
  });

  it.skipIf(!have('readelf'))('loads PT_LOAD segments, entry and PVH entry as readelf reports them', () => {
    const hdr = execFileSync('readelf', ['-h', '-l', '-W', vmlinuxPath], { encoding: 'utf8' });
    const entry = Number.parseInt(/Entry point address:\s+(0x[0-9a-f]+)/.exec(hdr)![1], 16);
    const loads = [
      ...hdr.matchAll(
        /^\s+LOAD\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)/gm,
      ),
    ].map((m) => ({
      offset: Number.parseInt(m[1], 16),
      paddr: Number.parseInt(m[3], 16),
      filesz: Number.parseInt(m[4], 16),
      memsz: Number.parseInt(m[5], 16),
    }));
    expect(loads.length).toBeGreaterThan(0);
    const notes = execFileSync('readelf', ['-n', '-W', vmlinuxPath], { encoding: 'utf8' });
    const pvhMatch = /Xen\s+0x0*([48])\s+[^\n]*0x00000012\)\s*description data: ([0-9a-f ]+)/.exec(notes);
    expect(pvhMatch).not.toBeNull();
    const descBytes = pvhMatch![2]
      .trim()
      .split(/\s+/)
      .map((b) => Number.parseInt(b, 16));
    const pvh = descBytes.reduce((acc, b, i) => acc + b * 2 ** (8 * i), 0);

    const mem = GuestMemory.createShared([{ start: 0, size: 128 << 20 }]);
    const k = loadElf(vmlinux, mem);
    expect(k.entry).toBe(entry);
    expect(k.pvhBootCapable).toBe(true);
    expect(k.pvhEntry).toBe(pvh);
    expect(k.segments.map((s) => [s.address, s.fileSize, s.memSize])).toEqual(
      loads.map((l) => [l.paddr, l.filesz, l.memsz]),
    );
    for (const l of loads) {
      expect(sha(mem.readBytes(l.paddr, l.filesz))).toBe(
        sha(vmlinux.subarray(l.offset, l.offset + l.filesz)),
      );
    }
  });
});

describe.skipIf(!kernelPath)('Debian cloud kernel: setupLinuxBoot', () => {
  const image = kernelPath ? new Uint8Array(fs.readFileSync(kernelPath)) : new Uint8Array();
  const acpi = {
    vcpus: 1,
    serial: [{ port: 0x3f8, irq: 4 }],
    sleepControl: { space: 'io' as const, address: 0x3c0 },
    sleepStatus: { space: 'io' as const, address: 0x3c1 },
  };
  const initrd = new Uint8Array(3 << 20).fill(0x42);

  it('64-bit protocol from the bzImage: zero page with header, cmdline, initrd and RSDP', () => {
    const mem = GuestMemory.createShared([{ start: 0, size: 256 << 20 }]);
    const b = setupLinuxBoot(mem, { kernel: image, cmdline: 'console=ttyS0 reboot=k panic=1', initrd, acpi });
    expect(b.entry).toEqual({ kind: 'linux64', entry: 0x1000200, zeroPage: 0x7000 });
    expect(mem.read32(0x7000 + 0x202)).toBe(0x53726448);
    expect(mem.read32(0x7000 + 0x228)).toBe(0x20000);
    expect(mem.readCString(0x20000, 100)).toBe('console=ttyS0 reboot=k panic=1');
    expect(mem.read32(0x7000 + 0x218)).toBe(b.initrd!.address);
    expect(b.initrd!.address + initrd.length).toBeLessThanOrEqual(256 << 20);
    expect(b.initrd!.address).toBeGreaterThanOrEqual(b.kernel.kernelEnd);
    expect(mem.read64(0x7000 + 0x70)).toBe(0xe0000n);
    expect(mem.read8(b.initrd!.address)).toBe(0x42);
  });

  it('PVH from the vmlinux inside the bzImage: start info, entry from the Xen note', () => {
    const mem = GuestMemory.createShared([{ start: 0, size: 256 << 20 }]);
    const b = setupLinuxBoot(mem, {
      kernel: image,
      cmdline: 'console=ttyS0',
      initrd,
      acpi,
      mode: 'pvh',
      extractPayload: true,
    });
    expect(b.entry.kind).toBe('pvh');
    if (b.entry.kind !== 'pvh') return;
    expect(b.entry.entry).toBe((b.kernel as { pvhEntry?: number }).pvhEntry);
    expect(mem.read32(b.entry.startInfo)).toBe(0x336ec578);
    expect(mem.read64(b.entry.startInfo + 24)).toBe(0x20000n);
    expect(mem.read64(b.entry.startInfo + 32)).toBe(0xe0000n);
    expect(mem.read32(b.entry.startInfo + 12)).toBe(1);
  });
});
