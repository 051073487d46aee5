import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Bus } from './bus.js';
import { SERIAL_FIFO_SIZE, Serial, type SerialSink } from './serial.js';
import { RecordingIrqLine } from './testing/recording-irq.js';

const BASE = 0x3f8;
const RBR = BASE;
const IER = BASE + 1;
const IIR = BASE + 2;
const LCR = BASE + 3;
const MCR = BASE + 4;
const LSR = BASE + 5;
const MSR = BASE + 6;
const SCR = BASE + 7;

class Sink implements SerialSink {
  chunks: number[] = [];
  accept = true;
  drainListeners: (() => void)[] = [];
  write(chunk: Uint8Array): boolean {
    this.chunks.push(...chunk);
    return this.accept;
  }
  once(_e: 'drain', l: () => void): void {
    this.drainListeners.push(l);
  }
}

function setup(opts: ConstructorParameters<typeof Serial>[0] = {}) {
  const irq = new RecordingIrqLine();
  const sink = new Sink();
  const serial = new Serial({ irq, sink, ...opts });
  const bus = new Bus('pio');
  bus.register(BASE, 8, serial, 'com1');
  const r = (port: number) => bus.readValue(port, 1);
  const w = (port: number, v: number) => bus.writeValue(port, 1, v);
  return { irq, sink, serial, bus, r, w };
}

describe('Serial (16550A)', () => {
  it('transmits THR writes to the sink and reports THR empty', () => {
    const { sink, r, w } = setup();
    for (const c of 'hi\n') w(BASE, c.charCodeAt(0));
    expect(String.fromCharCode(...sink.chunks)).toBe('hi\n');
    expect(r(LSR) & 0x60).toBe(0x60);
  });

  it('has a divisor latch behind DLAB and a scratch register', () => {
    const { sink, r, w } = setup();
    w(LCR, 0x80);
    w(BASE, 0x01);
    w(IER, 0x02);
    expect(r(BASE)).toBe(0x01);
    expect(r(IER)).toBe(0x02);
    w(LCR, 0x03);
    expect(r(IER)).toBe(0); // IER untouched by the DLM write
    expect(sink.chunks).toEqual([]); // the DLL write did not transmit
    w(SCR, 0x5a);
    expect(r(SCR)).toBe(0x5a);
    expect(r(LCR)).toBe(0x03);
  });

  it('raises THRE interrupts when enabled and clears them on IIR read', () => {
    const { irq, r, w } = setup();
    expect(r(IIR) & 0x0f).toBe(0x01);
    w(IER, 0x02);
    expect(irq.triggers).toBe(1);
    expect(r(IIR) & 0x0f).toBe(0x02);
    expect(r(IIR) & 0x0f).toBe(0x01); // cleared by the read
    w(BASE, 0x41);
    expect(irq.triggers).toBe(2);
    expect(r(IIR) & 0x0f).toBe(0x02);
  });

  it('receives input through the FIFO with data-ready, RDA and timeout interrupts', () => {
    const { serial, irq, r, w } = setup();
    w(0x3fa, 0xc7); // FIFO on, trigger level 14
    expect(r(IIR) & 0xc0).toBe(0xc0);
    w(IER, 0x01);
    expect(serial.enqueueInput(new TextEncoder().encode('abc'))).toBe(3);
    expect(irq.triggers).toBe(1);
    expect(r(IIR) & 0x0f).toBe(0x0c); // below trigger level: character timeout
    expect(r(LSR) & 1).toBe(1);
    expect(String.fromCharCode(r(RBR), r(RBR), r(RBR))).toBe('abc');
    expect(r(LSR) & 1).toBe(0);
    expect(r(IIR) & 0x0f).toBe(0x01);
    serial.enqueueInput(new Uint8Array(20).fill(0x61));
    expect(r(IIR) & 0x0f).toBe(0x04); // at/above trigger level: received data available
  });

  it('applies back-pressure and bounds memory under an input flood', () => {
    let spaceCalls = 0;
    const { serial, r, w } = setup({ inputBufferSize: 100, onInputSpace: () => spaceCalls++ });
    w(0x3fa, 0x01);
    expect(serial.inputSpace).toBe(SERIAL_FIFO_SIZE + 100);
    const flood = new Uint8Array(1 << 20).fill(0x78);
    expect(serial.enqueueInput(flood)).toBe(SERIAL_FIFO_SIZE + 100);
    expect(serial.inputSpace).toBe(0);
    expect(serial.enqueueInput(flood)).toBe(0);
    r(RBR);
    expect(spaceCalls).toBe(1);
    expect(serial.inputSpace).toBe(1);
    let n = 1;
    while (r(LSR) & 1) {
      r(RBR);
      n++;
    }
    expect(n).toBe(SERIAL_FIFO_SIZE + 100);
  });

  it('keeps the guest running when the sink stalls: bounded buffer, dropped bytes counted', () => {
    const { sink, serial, w } = setup({ outputBufferSize: 8 });
    sink.accept = false;
    w(BASE, 0x30); // accepted, but the sink says stop
    for (let i = 1; i <= 10; i++) w(BASE, 0x30 + i);
    expect(sink.chunks).toEqual([0x30]);
    expect(serial.pendingOutput).toBe(8);
    expect(serial.droppedOutputBytes).toBe(2);
    sink.accept = true;
    for (const l of sink.drainListeners.splice(0)) l();
    expect(sink.chunks).toEqual([0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38]);
    expect(serial.pendingOutput).toBe(0);
  });

  it('loops back THR to RBR and MCR to MSR in loopback mode', () => {
    const { sink, serial, irq, r, w } = setup();
    w(IER, 0x09); // RDA + modem status
    const before = irq.triggers;
    w(MCR, 0x10 | 0x01 | 0x02); // LOOP, DTR, RTS
    expect(irq.triggers).toBeGreaterThan(before); // modem status change
    expect(r(IIR) & 0x0f).toBe(0x00);
    const msr = r(MSR);
    expect(msr & 0xf0).toBe(0x30); // CTS, DSR
    expect(msr & 0x0f).toBe(0x08); // DCD dropped (OUT2 off in loopback)
    expect(r(MSR) & 0x0f).toBe(0); // deltas cleared by the read
    w(MCR, 0x10 | 0x01); // RTS off
    expect(r(MSR) & 0x1f).toBe(0x01); // CTS off, delta CTS
    w(BASE, 0x55);
    expect(sink.chunks).toEqual([]);
    expect(r(LSR) & 1).toBe(1);
    expect(r(RBR)).toBe(0x55);
    expect(serial.enqueueInput(Uint8Array.of(1))).toBe(0); // line disconnected in loopback
    // without FIFO: a second byte overruns
    w(BASE, 1);
    w(BASE, 2);
    w(IER, 0x0d);
    expect(r(IIR) & 0x0f).toBe(0x06);
    expect(r(LSR) & 0x02).toBe(0x02);
    expect(r(LSR) & 0x02).toBe(0);
  });

  it('holds one byte without FIFO, 64 with it, and clears the receive FIFO on FCR bit 1', () => {
    const { serial, r, w } = setup({ inputBufferSize: 0 });
    expect(serial.enqueueInput(Uint8Array.of(1, 2, 3))).toBe(1); // RBR only: no FIFO, no host buffer
    expect(r(RBR)).toBe(1);
    expect(r(LSR) & 1).toBe(0);
    w(0x3fa, 0x01); // FIFO on
    expect(serial.enqueueInput(new Uint8Array(100).fill(9))).toBe(SERIAL_FIFO_SIZE);
    expect(serial.inputSpace).toBe(0);
    w(0x3fa, 0x03); // clear RX
    expect(r(LSR) & 1).toBe(0);
    expect(serial.inputSpace).toBe(SERIAL_FIFO_SIZE);
  });

  it('reports the normal modem lines outside loopback', () => {
    const { r } = setup();
    expect(r(MSR)).toBe(0xb0);
    expect(r(MCR)).toBe(0x08);
  });

  it('survives any register sequence with bounded state (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('r' as const), off: fc.integer({ min: 0, max: 7 }) }),
            fc.record({
              op: fc.constant('w' as const),
              off: fc.integer({ min: 0, max: 7 }),
              v: fc.integer({ min: 0, max: 255 }),
            }),
            fc.record({ op: fc.constant('in' as const), n: fc.integer({ min: 0, max: 300 }) }),
          ),
          { maxLength: 300 },
        ),
        (ops) => {
          const { serial, bus } = setup({ outputBufferSize: 32, inputBufferSize: 32 });
          for (const o of ops) {
            if (o.op === 'r') {
              const v = bus.readValue(BASE + o.off, 1);
              expect(v).toBeGreaterThanOrEqual(0);
              expect(v).toBeLessThanOrEqual(255);
            } else if (o.op === 'w') bus.writeValue(BASE + o.off, 1, o.v);
            else {
              const took = serial.enqueueInput(new Uint8Array(o.n));
              expect(took).toBeLessThanOrEqual(o.n);
            }
            expect(serial.pendingOutput).toBeLessThanOrEqual(32);
            expect(serial.inputSpace).toBeLessThanOrEqual(SERIAL_FIFO_SIZE + 32);
          }
        },
      ),
    );
  });
});
