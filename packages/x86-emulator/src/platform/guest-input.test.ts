/**
 * Property-based tests: every port, MMIO and MSR access is guest-controlled input. Whatever the
 * guest does, the chips must not throw, must answer in range, and must leave the clock sane.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EmulatedIrqchip } from './irqchip.js';

const access = fc.record({
  kind: fc.constantFrom('pio-read', 'pio-write', 'mmio-read', 'mmio-write', 'irq', 'ack', 'time', 'msi'),
  port: fc.constantFrom(0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1, 0x40, 0x41, 0x42, 0x43, 0x61, 0x80),
  offset: fc.oneof(fc.nat({ max: 0x1003 }), fc.constantFrom(0x00, 0x10, 0x40, 0xb0, 0x300, 0x320, 0x380)),
  window: fc.constantFrom(0xfee00000, 0xfec00000),
  size: fc.constantFrom(1, 2, 4, 8),
  value: fc.nat({ max: 0xffffffff }),
  gsi: fc.nat({ max: 23 }),
  level: fc.boolean(),
  vcpu: fc.nat({ max: 1 }),
  ns: fc.nat({ max: 5_000_000 }),
});

describe('platform chips under arbitrary guest accesses', () => {
  it('never throw, answer in range and keep the clock consistent', () => {
    fc.assert(
      fc.property(fc.array(access, { maxLength: 200 }), (ops) => {
        const irqchip = new EmulatedIrqchip();
        irqchip.addVcpu(0);
        irqchip.addVcpu(1);
        irqchip.createPit();
        for (const op of ops) {
          switch (op.kind) {
            case 'pio-read': {
              const v = irqchip.pioRead(op.port, 1);
              if (op.port === 0x80) expect(v).toBeUndefined();
              else {
                expect(v).toBeGreaterThanOrEqual(0);
                expect(v).toBeLessThanOrEqual(0xff);
              }
              break;
            }
            case 'pio-write':
              irqchip.pioWrite(op.port, 1, op.value);
              break;
            case 'mmio-read': {
              const v = irqchip.mmioRead(op.vcpu, op.window + op.offset, Math.min(op.size, 4));
              if (v !== undefined) {
                expect(Number.isInteger(v)).toBe(true);
                expect(v).toBeGreaterThanOrEqual(0);
                expect(v).toBeLessThanOrEqual(0xffffffff);
              }
              break;
            }
            case 'mmio-write':
              irqchip.mmioWrite(op.vcpu, op.window + op.offset, op.size, op.value);
              break;
            case 'irq':
              irqchip.setIrqLine(op.gsi, op.level);
              break;
            case 'ack': {
              const pending = irqchip.pendingInterrupt(op.vcpu);
              const v = irqchip.acknowledge(op.vcpu);
              if (pending >= 0) expect(v).toBe(pending);
              expect(v).toBeGreaterThanOrEqual(-1);
              expect(v).toBeLessThanOrEqual(0xff);
              break;
            }
            case 'time':
              irqchip.clock.advance(op.ns);
              expect(irqchip.clock.nextDeadline()).toBeGreaterThan(irqchip.clock.now());
              break;
            case 'msi':
              irqchip.signalMsi(BigInt(op.value) | 0xfee00000n, op.value & 0xffff);
              break;
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('x2APIC MSRs: any index and value gives a value or #GP, never an exception', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            index: fc.integer({ min: 0x800, max: 0x8ff }),
            value: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
            write: fc.boolean(),
          }),
          { maxLength: 100 },
        ),
        (ops) => {
          const irqchip = new EmulatedIrqchip();
          irqchip.addVcpu(0);
          irqchip.addVcpu(1);
          expect(irqchip.writeMsr(0, 0x1b, 0xfee00d00n)).toBe(true);
          for (const op of ops) {
            if (op.write) expect(typeof irqchip.writeMsr(0, op.index, op.value)).toBe('boolean');
            else {
              const v = irqchip.readMsr(0, op.index);
              if (v !== undefined) expect(v >= 0n && v < 1n << 64n).toBe(true);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
