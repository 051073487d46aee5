import { describe, expect, it } from 'vitest';
import { X86EmulatorError } from '../errors.js';
import { PicPair } from './pic.js';

/** The sequence Linux's init_8259A() writes (arch/x86/kernel/i8259.c), with auto-EOI off. */
function linuxInit(pic: PicPair): void {
  pic.pioWrite(0x21, 1, 0xff); // mask all of 8259A-1
  pic.pioWrite(0xa1, 1, 0xff); // mask all of 8259A-2
  pic.pioWrite(0x20, 1, 0x11); // ICW1: select 8259A-1 init
  pic.pioWrite(0x21, 1, 0x30); // ICW2: IRQ0-7 mapped to 0x30-0x37
  pic.pioWrite(0x21, 1, 0x04); // ICW3: slave on IR2
  pic.pioWrite(0x21, 1, 0x01); // ICW4: normal EOI
  pic.pioWrite(0xa0, 1, 0x11); // ICW1: select 8259A-2 init
  pic.pioWrite(0xa1, 1, 0x38); // ICW2: IRQ8-15 mapped to 0x38-0x3f
  pic.pioWrite(0xa1, 1, 0x02); // ICW3: cascade identity
  pic.pioWrite(0xa1, 1, 0x01); // ICW4
  pic.pioWrite(0x21, 1, 0xff); // restore masks
  pic.pioWrite(0xa1, 1, 0xff);
}

describe('PicPair', () => {
  it('takes the Linux init sequence and its probe (write IMR, read it back)', () => {
    const pic = new PicPair();
    linuxInit(pic);
    expect(pic.chipState(0)).toMatchObject({ irqBase: 0x30, imr: 0xff });
    expect(pic.chipState(1)).toMatchObject({ irqBase: 0x38, imr: 0xff });
    // legacy_pic probe: outb(0xff, PIC_MASTER_IMR); inb == 0xff
    pic.pioWrite(0x21, 1, 0xff);
    expect(pic.pioRead(0x21)).toBe(0xff);
    pic.pioWrite(0x21, 1, 0xfb);
    expect(pic.pioRead(0x21)).toBe(0xfb);
  });

  it('prioritises IRQ 0 over 1 and nests by priority with EOIs', () => {
    const pic = new PicPair();
    linuxInit(pic);
    pic.pioWrite(0x21, 1, 0x00);
    const out: boolean[] = [];
    pic.onOutput = (v) => out.push(v);
    pic.setIrq(1, true);
    pic.setIrq(0, true);
    expect(out).toEqual([true]);
    expect(pic.peekVector()).toBe(0x30);
    expect(pic.acknowledge()).toBe(0x30);
    expect(pic.hasInterrupt).toBe(false); // IRQ1 is below the in-service IRQ0
    pic.pioWrite(0x20, 1, 0x20); // non-specific EOI
    expect(pic.acknowledge()).toBe(0x31);
    pic.pioWrite(0x20, 1, 0x61); // specific EOI for IRQ1
    expect(pic.chipState(0).isr).toBe(0);
    // read IRR / ISR via OCW3
    pic.setIrq(1, false);
    pic.setIrq(1, true);
    pic.pioWrite(0x20, 1, 0x0a);
    expect(pic.pioRead(0x20)).toBe(0x02);
    pic.pioWrite(0x20, 1, 0x0b);
    expect(pic.pioRead(0x20)).toBe(0x00);
  });

  it('cascades the slave through IRQ 2 and answers spurious 7/15', () => {
    const pic = new PicPair();
    linuxInit(pic);
    pic.pioWrite(0x21, 1, 0xfb); // only the cascade
    pic.pioWrite(0xa1, 1, 0x00);
    pic.setIrq(12, true);
    expect(pic.acknowledge()).toBe(0x3c);
    expect(pic.chipState(0).isr).toBe(0x04);
    expect(pic.chipState(1).isr).toBe(0x10);
    pic.pioWrite(0xa0, 1, 0x20);
    pic.pioWrite(0x20, 1, 0x20);
    expect(pic.hasInterrupt).toBe(false);
    expect(pic.acknowledge()).toBe(0x37); // spurious on the master
    // a slave request withdrawn before INTA disappears from the master as well
    pic.pioWrite(0x4d1, 1, 0x10); // IRQ12 level
    pic.setIrq(12, true);
    expect(pic.hasInterrupt).toBe(true);
    pic.setIrq(12, false);
    expect(pic.hasInterrupt).toBe(false);
    // a higher slave request while a lower one is in service (nested through the cascade)
    pic.setIrq(12, true);
    expect(pic.acknowledge()).toBe(0x3c);
    pic.setIrq(9, true);
    expect(pic.hasInterrupt).toBe(false); // master IR2 is in service (not special fully nested)
    pic.pioWrite(0xa0, 1, 0x20);
    pic.pioWrite(0x20, 1, 0x20);
    expect(pic.acknowledge()).toBe(0x39);
  });

  it('masks, honours level mode from the ELCR and keeps level requests after INTA', () => {
    const pic = new PicPair();
    linuxInit(pic);
    pic.pioWrite(0x4d0, 1, 0xff);
    expect(pic.pioRead(0x4d0)).toBe(0xf8); // IRQ 0-2 cannot be level
    pic.pioWrite(0xa1, 1, 0x00);
    pic.pioWrite(0x21, 1, 0xfb);
    pic.pioWrite(0x4d1, 1, 0x08); // IRQ 11 level
    pic.setIrq(11, true);
    expect(pic.acknowledge()).toBe(0x3b);
    pic.pioWrite(0xa0, 1, 0x20);
    pic.pioWrite(0x20, 1, 0x20);
    expect(pic.acknowledge()).toBe(0x3b); // still asserted
    pic.pioWrite(0xa0, 1, 0x20);
    pic.pioWrite(0x20, 1, 0x20);
    pic.setIrq(11, false);
    expect(pic.hasInterrupt).toBe(false);
    pic.pioWrite(0x21, 1, 0xff);
    pic.setIrq(3, true);
    expect(pic.hasInterrupt).toBe(false);
  });

  it('auto-EOI leaves nothing in service; special mask mode lets lower IRQs through', () => {
    const pic = new PicPair();
    pic.pioWrite(0x20, 1, 0x11);
    pic.pioWrite(0x21, 1, 0x08);
    pic.pioWrite(0x21, 1, 0x04);
    pic.pioWrite(0x21, 1, 0x03); // ICW4: auto-EOI
    pic.pioWrite(0x21, 1, 0x00);
    pic.setIrq(5, true);
    expect(pic.acknowledge()).toBe(0x0d);
    expect(pic.chipState(0).isr).toBe(0);

    const p2 = new PicPair();
    linuxInit(p2);
    p2.pioWrite(0x21, 1, 0x00);
    p2.setIrq(3, true);
    expect(p2.acknowledge()).toBe(0x33);
    p2.setIrq(6, true);
    expect(p2.hasInterrupt).toBe(false);
    p2.pioWrite(0x21, 1, 0x08); // mask IRQ3 (in service)
    p2.pioWrite(0x20, 1, 0x68); // OCW3: set special mask
    expect(p2.acknowledge()).toBe(0x36);
  });

  it('poll mode returns 0x80 | irq and rotation changes priority', () => {
    const pic = new PicPair();
    linuxInit(pic);
    pic.pioWrite(0x21, 1, 0x00);
    pic.setIrq(4, true);
    pic.pioWrite(0x20, 1, 0x0c); // poll
    expect(pic.pioRead(0x20)).toBe(0x84);
    pic.pioWrite(0x20, 1, 0x0c);
    expect(pic.pioRead(0x20)).toBe(0x00);
    pic.pioWrite(0x20, 1, 0x20);
    pic.pioWrite(0x20, 1, 0xc4); // set priority: IRQ4 lowest, IRQ5 highest
    pic.setIrq(1, true);
    pic.setIrq(6, true);
    expect(pic.acknowledge()).toBe(0x36);
    expect(() => pic.setIrq(16, true)).toThrow(X86EmulatorError);
  });
});
