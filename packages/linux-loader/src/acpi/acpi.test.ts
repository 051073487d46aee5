import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { afterAll, describe, expect, it } from 'vitest';
import { byteSum } from '../checksum.js';
import { LoaderError } from '../errors.js';
import { type AcpiDescription, buildAcpiTables, writeAcpiTables } from './acpi.js';
import { Aml } from './aml.js';

const description: AcpiDescription = {
  vcpus: 3,
  serial: [{ port: 0x3f8, irq: 4 }],
  virtioDevices: [
    { base: 0xd0000000, size: 0x1000, irq: 5 },
    { base: 0xd0001000, size: 0x1000, irq: 6 },
    { base: 0xd0002000, size: 0x1000, irq: 7 },
    { base: 0xd0003000, size: 0x1000, irq: 10, trigger: 'level' },
  ],
  sleepControl: { space: 'io', address: 0x3c0 },
  sleepStatus: { space: 'io', address: 0x3c1 },
};

const hasIasl = spawnSync('sh', ['-c', 'command -v iasl']).status === 0;
if (!hasIasl)
  console.log('skipped: ACPI disassembly with iasl (install acpica-tools; ./quickstart test does)');

describe('ACPI tables', () => {
  const t = buildAcpiTables(description);

  it('describes the i8042 (PNP0303, ports 0x60/0x64, IRQ 1) in the DSDT when legacy.i8042 is set', () => {
    const dsdt = (d: AcpiDescription) =>
      Buffer.from(buildAcpiTables(d).tables.find((x) => x.signature === 'DSDT')!.bytes);
    const pnp0303 = Buffer.from(Aml.eisaId('PNP0303'));
    const resources = Buffer.from(
      Aml.resourceTemplate([Aml.io(0x60, 0x60, 1, 1), Aml.io(0x64, 0x64, 1, 1), Aml.irqNoFlags([1])]),
    );
    const with8042 = dsdt({ ...description, legacy: { i8042: true } });
    expect(with8042.includes(Buffer.from('PS2K'))).toBe(true);
    expect(with8042.includes(pnp0303)).toBe(true);
    expect(with8042.includes(resources)).toBe(true);
    const without = dsdt(description);
    expect(without.includes(pnp0303)).toBe(false);
    expect(without.includes(Buffer.from('PS2K'))).toBe(false);
  });

  it('describes the CMOS RTC (PNP0B00, ports 0x70-0x71, no IRQ) in the DSDT when legacy.rtc is set', () => {
    const dsdt = (d: AcpiDescription) =>
      Buffer.from(buildAcpiTables(d).tables.find((x) => x.signature === 'DSDT')!.bytes);
    const pnp0b00 = Buffer.from(Aml.eisaId('PNP0B00'));
    const resources = Buffer.from(Aml.resourceTemplate([Aml.io(0x70, 0x70, 1, 2)]));
    const withRtc = dsdt({ ...description, legacy: { rtc: true } });
    expect(withRtc.includes(Buffer.from('RTC_'))).toBe(true);
    expect(withRtc.includes(pnp0b00)).toBe(true);
    expect(withRtc.includes(resources)).toBe(true);
    const without = dsdt({ ...description, legacy: { i8042: true } });
    expect(without.includes(pnp0b00)).toBe(false);
    expect(without.includes(Buffer.from('RTC_'))).toBe(false);
  });

  it('lays out RSDP, DSDT, FACP, APIC, XSDT in the BIOS area with valid checksums', () => {
    expect(t.rsdpAddress).toBe(0xe0000);
    expect(t.tables.map((x) => x.signature)).toEqual(['RSDP', 'DSDT', 'FACP', 'APIC', 'XSDT']);
    for (const x of t.tables) {
      expect(x.address % 16).toBe(0);
      expect(x.address).toBeGreaterThanOrEqual(0xe0000);
      expect(x.address + x.bytes.length).toBeLessThanOrEqual(0x100000);
      if (x.signature === 'RSDP') {
        expect(byteSum(x.bytes, 0, 20)).toBe(0);
        expect(byteSum(x.bytes)).toBe(0);
      } else {
        expect(byteSum(x.bytes)).toBe(0);
        expect(new DataView(x.bytes.buffer).getUint32(4, true)).toBe(x.bytes.length);
      }
    }
    const byName = Object.fromEntries(t.tables.map((x) => [x.signature, x]));
    const rsdp = new DataView(byName.RSDP.bytes.buffer);
    expect(Buffer.from(byName.RSDP.bytes.subarray(0, 8)).toString('latin1')).toBe('RSD PTR ');
    expect(byName.RSDP.bytes[15]).toBe(2);
    expect(Number(rsdp.getBigUint64(24, true))).toBe(byName.XSDT.address);
    const xsdt = new DataView(byName.XSDT.bytes.buffer);
    expect([Number(xsdt.getBigUint64(36, true)), Number(xsdt.getBigUint64(44, true))]).toEqual([
      byName.FACP.address,
      byName.APIC.address,
    ]);
    const fadt = new DataView(byName.FACP.bytes.buffer);
    expect(Number(fadt.getBigUint64(140, true))).toBe(byName.DSDT.address);
  });

  it('writes the tables into guest memory', () => {
    const mem = GuestMemory.createShared([{ start: 0, size: 1 << 20 }]);
    const w = writeAcpiTables(mem, description);
    for (const x of w.tables) expect(mem.readBytes(x.address, x.bytes.length)).toEqual(x.bytes);
    const small = GuestMemory.createShared([{ start: 0, size: 0xe0000 }]);
    expect(() => writeAcpiTables(small, description)).toThrow(LoaderError);
  });

  it('refuses bad descriptions with LoaderError', () => {
    expect(() => buildAcpiTables({ ...description, vcpus: 0 })).toThrow(/vcpus 0/);
    expect(() =>
      buildAcpiTables({ ...description, virtioDevices: [{ base: 0xffff_f000, size: 0x2000, irq: 5 }] }),
    ).toThrow(/4 GiB/);
    expect(() =>
      buildAcpiTables({ ...description, sleepControl: { space: 'io', address: 0x10000 } }),
    ).toThrow(LoaderError);
    expect(() => buildAcpiTables(description, 0xffff0)).toThrow(/limit/);
    expect(() => Aml.name('TOOLONG', Aml.integer(1))).toThrow(/name segment/);
  });

  it('encodes PkgLength in 1-4 bytes', () => {
    for (const n of [10, 100, 5000, 2_000_000]) {
      const b = Aml.buffer(new Uint8Array(n));
      const lead = b[1];
      const extra = lead >> 6;
      let len = extra === 0 ? lead & 0x3f : lead & 0x0f;
      for (let i = 0; i < extra; i++) len |= b[2 + i] << (4 + 8 * i);
      expect(len).toBe(b.length - 1);
    }
  });

  describe.skipIf(!hasIasl)('disassembled with iasl -d', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'acpi-'));
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
    const dis = (sig: string): string => {
      const x = t.tables.find((y) => y.signature === sig)!;
      const f = path.join(dir, `${sig.toLowerCase()}.dat`);
      fs.writeFileSync(f, x.bytes);
      const r = spawnSync('iasl', ['-d', f], { encoding: 'utf8', cwd: dir });
      expect(r.status, r.stdout + r.stderr).toBe(0);
      return fs.readFileSync(f.replace(/\.dat$/, '.dsl'), 'utf8');
    };

    it('DSDT: COM1, virtio-mmio devices with their windows and interrupts, _S5', () => {
      const s = dis('DSDT');
      expect(s).toMatch(/DefinitionBlock \("", "DSDT", 2, "TSVMM ", "TSVMMDSD"/);
      expect(s).toMatch(
        /Device \(COM1\)[\s\S]*?EisaId \("PNP0501"\)[\s\S]*?0x03F8,\s+\/\/ Range Minimum[\s\S]*?IRQNoFlags \(\)\s*\{4\}/,
      );
      expect(s).toMatch(
        /Device \(VR03\)[\s\S]*?Interrupt \(ResourceConsumer, Level, ActiveHigh, Exclusive, ,, \)\s*\{\s*0x0000000A,/,
      );
      description.virtioDevices!.slice(0, 3).forEach((d, i) => {
        const re = new RegExp(
          `Device \\(VR0${i}\\)\\s*\\{\\s*Name \\(_HID, "LNRO0005"\\)[\\s\\S]*?Name \\(_UID, (?:${i === 0 ? 'Zero' : i === 1 ? 'One' : `0x0${i}`})\\)` +
            `[\\s\\S]*?Memory32Fixed \\(ReadWrite,\\s*0x${d.base.toString(16).toUpperCase()},\\s*// Address Base\\s*0x00001000,` +
            `[\\s\\S]*?Interrupt \\(ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, \\)\\s*\\{\\s*0x0000000${d.irq},`,
        );
        expect(s).toMatch(re);
      });
      expect(s).toMatch(/Name \(\\_S5, Package \(0x04\)[\s\S]*?0x05,/);
      expect(s).not.toMatch(/Error|Warning/i);
    });

    it('FADT: revision 6, hardware-reduced, sleep registers, X_DSDT', () => {
      const s = dis('FACP');
      const dsdt = t.tables.find((y) => y.signature === 'DSDT')!.address;
      expect(s).toMatch(/Revision : 06/);
      expect(s).toMatch(/Hardware Reduced \(V5\) : 1/);
      expect(s).toMatch(/Control Method Power Button \(V1\) : 1/);
      expect(s).toMatch(
        new RegExp(`\\[08Ch 0140   8\\]\\s+DSDT Address : 0*${dsdt.toString(16).toUpperCase()}`),
      );
      expect(s).toMatch(
        /Sleep Control Register : [\s\S]*?Space ID : 01 \[SystemIO\][\s\S]*?Address : 00000000000003C0/,
      );
      expect(s).toMatch(
        /Sleep Status Register : [\s\S]*?Space ID : 01 \[SystemIO\][\s\S]*?Address : 00000000000003C1/,
      );
      expect(s).not.toMatch(/Invalid|Warning/i);
    });

    it('MADT: a local APIC per vCPU, IOAPIC at 0xfec00000 GSI 0, IRQ0→GSI2, LINT1 NMI', () => {
      const s = dis('APIC');
      const lapics = [
        ...s.matchAll(
          /Processor Local APIC\][\s\S]*?Local Apic ID : ([0-9A-F]{2})[\s\S]*?Processor Enabled : 1/g,
        ),
      ];
      expect(lapics.map((m) => Number.parseInt(m[1], 16))).toEqual([0, 1, 2]);
      expect(s).toMatch(
        /I\/O APIC\][\s\S]*?I\/O Apic ID : 03[\s\S]*?Address : FEC00000[\s\S]*?Interrupt : 00000000/,
      );
      expect(s).toMatch(/Interrupt Source Override\][\s\S]*?Source : 00[\s\S]*?Interrupt : 00000002/);
      expect(s).toMatch(/Local APIC NMI\][\s\S]*?Processor ID : FF[\s\S]*?Interrupt Input LINT : 01/);
    });

    it('XSDT lists the FADT and the MADT', () => {
      const s = dis('XSDT');
      const addr = (sig: string) =>
        t.tables
          .find((y) => y.signature === sig)!
          .address.toString(16)
          .toUpperCase()
          .padStart(16, '0');
      expect(s).toMatch(new RegExp(`ACPI Table Address   0 : ${addr('FACP')}`));
      expect(s).toMatch(new RegExp(`ACPI Table Address   1 : ${addr('APIC')}`));
    });
  });
});
