/**
 * Property tests for the boot data writers: at any address (including ones that straddle the end of
 * guest memory or a hole between regions) each writer either throws its module's error having written
 * nothing, or writes exactly inside the range it reports. Memory is sentinel-filled.
 */
import { GuestMemory } from '@ts-vmm/vm-memory';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { writeAcpiTables } from './acpi/acpi.js';
import { e820ForMemory } from './e820.js';
import { LoaderError } from './errors.js';
import { writeMpTable } from './mptable.js';
import { writePvhStartInfo } from './pvh.js';
import { writeZeroPage, ZERO_PAGE_SIZE } from './zero-page.js';

const SENTINEL = 0x5a;
// Two regions with a hole between them, so ranges can straddle a gap as well as the end.
const memory = GuestMemory.createShared([
  { start: 0, size: 0x100000 },
  { start: 0x110000, size: 0x10000 },
]);
const e820 = e820ForMemory(memory);

function reset(): void {
  for (const r of memory.regions) r.bytes.fill(SENTINEL);
}

function onlyWritten(start: number, end: number): boolean {
  for (const r of memory.regions) {
    for (let i = 0; i < r.size; i++) {
      const a = r.start + i;
      if ((a < start || a >= end) && r.bytes[i] !== SENTINEL) return false;
    }
  }
  return true;
}

const address = fc.oneof(
  fc.integer({ min: 0, max: 0x130000 }),
  fc.integer({ min: 0xf0000, max: 0x112000 }),
  fc.constantFrom(-16, 2 ** 53, Number.NaN, 0x1_0000_0000),
);

function check(run: () => { start: number; end: number }, errorClass: new (...a: never[]) => Error): void {
  reset();
  let range: { start: number; end: number };
  try {
    range = run();
  } catch (e) {
    expect(e).toBeInstanceOf(errorClass);
    expect(onlyWritten(0, 0)).toBe(true);
    return;
  }
  expect(onlyWritten(range.start, range.end)).toBe(true);
}

describe('boot data writers stay inside guest memory and their reported ranges', () => {
  it('zero page', () => {
    fc.assert(
      fc.property(address, (at) => {
        check(() => {
          const a = writeZeroPage(memory, { e820, address: at, cmdline: { address: 0x20000, size: 10 } });
          return { start: a, end: a + ZERO_PAGE_SIZE };
        }, LoaderError);
      }),
      { numRuns: 60 },
    );
  });

  it('PVH start info', () => {
    fc.assert(
      fc.property(address, fc.nat(3), (at, mods) => {
        check(() => {
          const l = writePvhStartInfo(memory, {
            address: at,
            memmap: e820,
            modules: Array.from({ length: mods }, (_, i) => ({ address: 0x8000 * (i + 1), size: 0x100 })),
          });
          return { start: l.address, end: l.end };
        }, LoaderError);
      }),
      { numRuns: 60 },
    );
  });

  it('MP table', () => {
    fc.assert(
      fc.property(address, fc.integer({ min: 0, max: 300 }), (at, vcpus) => {
        check(() => {
          const l = writeMpTable(memory, { vcpus, address: at });
          return { start: l.address, end: l.end };
        }, LoaderError);
      }),
      { numRuns: 60 },
    );
  });

  it('ACPI tables', () => {
    fc.assert(
      fc.property(address, fc.integer({ min: 0, max: 300 }), fc.nat(40), (at, vcpus, nvirtio) => {
        check(() => {
          const t = writeAcpiTables(
            memory,
            {
              vcpus,
              serial: [{ port: 0x3f8, irq: 4 }],
              virtioDevices: Array.from({ length: nvirtio }, (_, i) => ({
                base: 0xd0000000 + i * 0x1000,
                size: 0x1000,
                irq: 5 + (i % 19),
              })),
              sleepControl: { space: 'io', address: 0x3c0 },
              sleepStatus: { space: 'io', address: 0x3c1 },
            },
            at,
            0x200000,
          );
          return { start: t.rsdpAddress, end: t.end };
        }, LoaderError);
      }),
      { numRuns: 60 },
    );
  });
});
