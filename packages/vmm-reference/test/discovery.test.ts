/**
 * `--discovery acpi|cmdline|both` without booting: the exact kernel command line and the ACPI
 * tables the VMM writes into guest memory for a machine with every virtio device that needs no host
 * privileges (blk, console, rng, vsock). Debian's kernel lacks CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES,
 * so no guest here can prove `cmdline` discovery end to end; this checks what the guest is given.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GuestMemory } from '@ts-vmm/vm-memory';
import { afterAll, describe, expect, it } from 'vitest';
import { parseRunFlags } from '../src/config/flags.js';
import { resolveConfig } from '../src/config/resolve.js';
import type { DeviceDiscovery } from '../src/config/types.js';
import { backendAvailable } from '../src/vmm/backend.js';
import { Vmm } from '../src/vmm/vmm.js';
import { tinyElfKernel } from './guests.js';

const emulated = (await backendAvailable('emulated')).ok;
if (!emulated) console.log('skipped: device discovery tests (emulated backend not available)');

interface AcpiTable {
  signature: string;
  address: number;
  bytes: Uint8Array;
}

const ascii = (b: Uint8Array) => Buffer.from(b).toString('latin1');
const sum8 = (b: Uint8Array) => b.reduce((s, x) => (s + x) & 0xff, 0);

/** Finds the RSDP in the BIOS area and follows XSDT and FADT; checks every checksum on the way. */
function readAcpi(mem: GuestMemory): Map<string, AcpiTable> {
  const bios = mem.readBytes(0xe0000, 0x20000);
  let rsdp = -1;
  for (let o = 0; o < bios.length; o += 16) {
    if (ascii(bios.subarray(o, o + 8)) === 'RSD PTR ') {
      rsdp = 0xe0000 + o;
      break;
    }
  }
  expect(rsdp, 'RSDP signature in 0xe0000-0xfffff').toBeGreaterThan(0);
  const tables = new Map<string, AcpiTable>();
  const rsdpBytes = mem.readBytes(rsdp, 36);
  expect(sum8(rsdpBytes.subarray(0, 20))).toBe(0);
  expect(sum8(rsdpBytes)).toBe(0);
  const table = (address: number): AcpiTable => {
    const len = new DataView(mem.readBytes(address + 4, 4).buffer).getUint32(0, true);
    const bytes = mem.readBytes(address, len);
    const signature = ascii(bytes.subarray(0, 4));
    expect(sum8(bytes), `${signature} checksum`).toBe(0);
    return { signature, address, bytes };
  };
  const xsdt = table(Number(new DataView(rsdpBytes.buffer).getBigUint64(24, true)));
  expect(xsdt.signature).toBe('XSDT');
  const xv = new DataView(xsdt.bytes.buffer);
  for (let o = 36; o < xsdt.bytes.length; o += 8) {
    const t = table(Number(xv.getBigUint64(o, true)));
    tables.set(t.signature, t);
  }
  const fadt = tables.get('FACP');
  expect(fadt, 'FADT in the XSDT').toBeDefined();
  const dsdt = table(Number(new DataView(fadt!.bytes.buffer).getBigUint64(140, true)));
  expect(dsdt.signature).toBe('DSDT');
  tables.set('DSDT', dsdt);
  return tables;
}

/**
 * The virtio-mmio devices a DSDT describes: for each `_HID "LNRO0005"`, the Memory32Fixed window
 * (descriptor 0x86) and the extended interrupt (descriptor 0x89) of its `_CRS`.
 */
function dsdtVirtio(dsdt: Uint8Array): { base: number; size: number; irq: number }[] {
  const text = ascii(dsdt);
  const v = new DataView(dsdt.buffer, dsdt.byteOffset, dsdt.byteLength);
  const out: { base: number; size: number; irq: number }[] = [];
  for (let at = text.indexOf('LNRO0005'); at >= 0; at = text.indexOf('LNRO0005', at + 1)) {
    const mem = text.indexOf('\x86\x09\x00', at);
    const irq = text.indexOf('\x89', mem + 12);
    expect(mem, 'Memory32Fixed after _HID LNRO0005').toBeGreaterThan(at);
    expect(dsdt[irq + 4], 'one interrupt in the extended interrupt descriptor').toBe(1);
    out.push({
      base: v.getUint32(mem + 4, true),
      size: v.getUint32(mem + 8, true),
      irq: v.getUint32(irq + 5, true),
    });
  }
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'discovery-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const kernel = join(dir, 'vmlinux');
writeFileSync(kernel, tinyElfKernel());
const disk = join(dir, 'disk.img');
writeFileSync(disk, Buffer.alloc(64 * 1024));

/** Builds the VM for `discovery` through the CLI's flag parser and the library API, then tears it down. */
async function machineFor(discovery: DeviceDiscovery) {
  const uds = join(dir, `vsock-${discovery}.sock`);
  const flags = parseRunFlags([
    '--kernel',
    kernel,
    '--memory',
    '32',
    '--disk',
    `${disk},ro`,
    '--console',
    'virtio',
    '--vsock',
    `cid=3,uds=${uds}`,
    '--backend',
    'emulated',
    '--discovery',
    discovery,
  ]);
  const vmm = await Vmm.create(resolveConfig({ flags: flags.config }), {
    input: null,
    handleSignals: false,
    log: () => {},
    output: { write: () => true },
  });
  const devices = vmm.machine.virtioDescriptions();
  const acpi = readAcpi(vmm.memory);
  const cmdline = vmm.cmdline;
  // Never run the guest: stopping first makes run() only release the VM.
  vmm.stop('sigterm', 'test');
  await vmm.run();
  return { devices, acpi, cmdline };
}

const WIRED = [
  { base: 0xd000_0000, size: 0x1000, irq: 5 }, // virtio-blk
  { base: 0xd000_1000, size: 0x1000, irq: 6 }, // virtio-console
  { base: 0xd000_2000, size: 0x1000, irq: 7 }, // virtio-rng
  { base: 0xd000_3000, size: 0x1000, irq: 8 }, // virtio-vsock
];
const BASE = 'console=ttyS0 reboot=k panic=1 pci=off';
const CMDLINE_DEVICES =
  'virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6 ' +
  'virtio_mmio.device=4K@0xd0002000:7 virtio_mmio.device=4K@0xd0003000:8';
const TAIL = 'console=hvc0 tsvmm.boot_timer=0xc0000000';

describe.skipIf(!emulated)('--discovery: the command line and ACPI tables the guest gets', () => {
  it('acpi (default): DSDT LNRO0005 devices for every virtio device, no virtio_mmio.device= parameters', async () => {
    const m = await machineFor('acpi');
    expect(m.devices).toEqual(WIRED);
    expect(m.cmdline).toBe(`${BASE} ${TAIL}`);
    expect(dsdtVirtio(m.acpi.get('DSDT')!.bytes)).toEqual(WIRED);
  });

  it('cmdline: a virtio_mmio.device=<size>@<addr>:<irq> per device, no virtio nodes in the DSDT', async () => {
    const m = await machineFor('cmdline');
    expect(m.devices).toEqual(WIRED);
    expect(m.cmdline).toBe(`${BASE} ${CMDLINE_DEVICES} ${TAIL}`);
    const dsdt = m.acpi.get('DSDT')!.bytes;
    expect(ascii(dsdt)).not.toContain('LNRO0005');
    expect(dsdtVirtio(dsdt)).toEqual([]);
    // The rest of the machine is still described: MADT, FADT, and COM1 (EISA ID PNP0501) with _S5.
    expect([...m.acpi.keys()].sort()).toEqual(['APIC', 'DSDT', 'FACP']);
    expect(ascii(dsdt)).toContain('COM1');
    expect(ascii(dsdt)).toContain('_S5_');
  });

  it('both: the command-line parameters and the DSDT devices, naming the same windows', async () => {
    const m = await machineFor('both');
    expect(m.cmdline).toBe(`${BASE} ${CMDLINE_DEVICES} ${TAIL}`);
    expect(dsdtVirtio(m.acpi.get('DSDT')!.bytes)).toEqual(WIRED);
  });
});
