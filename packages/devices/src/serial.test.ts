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
    let now = 0;
    const { serial, r, w } = setup({
      inputBufferSize: 100,
      onInputSpace: () => spaceCalls++,
      clock: () => now,
      inputTimer: false,
    });
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
    for (let i = 0; i < 1000 && n < SERIAL_FIFO_SIZE + 100; i++) {
      now += 1; // the rest arrives at the line's speed (960 characters a second at reset)
      while (r(LSR) & 1) {
        r(RBR);
        n++;
      }
    }
    expect(n).toBe(SERIAL_FIFO_SIZE + 100);
    expect(serial.pendingInput).toBe(0);
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
    let now = 0;
    const { serial, r, w } = setup({ inputBufferSize: 0, clock: () => now, inputTimer: false });
    expect(serial.enqueueInput(Uint8Array.of(1, 2, 3))).toBe(1); // RBR only: no FIFO, no host buffer
    expect(r(RBR)).toBe(1);
    expect(r(LSR) & 1).toBe(0);
    now += 100; // the line is quiet long enough to deliver a FIFO's worth at once
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

describe('Serial input pacing (a flood of host input)', () => {
  /** A guest clock: each register access takes `accessUs` microseconds of its time. */
  function paced(opts: ConstructorParameters<typeof Serial>[0] = {}) {
    let now = 1000;
    const g = setup({ clock: () => now, inputTimer: false, ...opts });
    const access = 0.002; // 2 µs per port access, in ms
    const isr = () => {
      // Linux's 8250 receive loop: read RBR while LSR.DR is set (bounded here only to report a hang).
      const got: number[] = [];
      while (g.r(LSR) & 1) {
        now += access;
        got.push(g.r(RBR));
        now += access;
        if (got.length > 100_000) break;
      }
      return got;
    };
    const divisor = (d: number) => {
      g.w(LCR, 0x83);
      g.w(BASE, d & 0xff);
      g.w(IER, d >> 8);
      g.w(LCR, 0x03); // 8N1
    };
    return { ...g, isr, divisor, advance: (ms: number) => (now += ms), now: () => now };
  }

  it("lets the guest's receive interrupt handler finish although the host buffer holds 4 MiB", () => {
    const g = paced({ inputBufferSize: 4 << 20 });
    g.divisor(1); // 115200 baud
    g.w(IIR, 0x81); // FIFO on, trigger level 8
    g.w(IER, 0x01);
    const flood = new Uint8Array(4 << 20).fill(0x61);
    expect(g.serial.enqueueInput(flood)).toBe(flood.length);
    const first = g.isr();
    // One FIFO's worth, plus what arrives at 11520 characters a second while it reads: not 4 MiB.
    expect(first.length).toBeGreaterThan(0);
    expect(first.length).toBeLessThanOrEqual(SERIAL_FIFO_SIZE + 8);
    expect(g.r(IIR) & 0x0f).toBe(0x01); // nothing pending: the handler returns
    expect(g.serial.pendingInput).toBe(flood.length - first.length);
  });

  it('delivers everything, in order, at the rate the divisor latch sets', () => {
    const g = paced({ inputBufferSize: 1 << 20 });
    g.divisor(1);
    g.w(IIR, 0x81);
    g.w(IER, 0x01);
    const input = new Uint8Array(256 * 1024);
    for (let i = 0; i < input.length; i++) input[i] = (i * 7 + (i >> 8)) & 0xff;
    let interrupts = g.irq.triggers;
    expect(g.serial.enqueueInput(input)).toBe(input.length);
    const got: number[] = [];
    let longest = 0;
    const start = g.now();
    for (let step = 0; got.length < input.length && step < 1_000_000; step++) {
      g.advance(0.5); // the guest runs something else for half a millisecond
      g.serial.tick();
      if (g.irq.triggers !== interrupts) {
        interrupts = g.irq.triggers;
        const chunk = g.isr();
        longest = Math.max(longest, chunk.length);
        for (const b of chunk) got.push(b);
      }
    }
    expect(got.length).toBe(input.length);
    expect(Buffer.from(got).equals(Buffer.from(input))).toBe(true);
    expect(longest).toBeLessThanOrEqual(SERIAL_FIFO_SIZE + 8);
    // 115200 baud at 10 bits a character: 11520 characters a second of the device's clock.
    const seconds = (g.now() - start) / 1000;
    expect(input.length / seconds).toBeLessThanOrEqual(11520 * 1.01 + SERIAL_FIFO_SIZE / seconds);
    expect(input.length / seconds).toBeGreaterThan(11520 * 0.9);
  });

  it('is slower at the reset divisor (9600 baud: 960 characters a second), faster with inputRate', () => {
    /** Characters delivered over a second of the device's clock (polled every millisecond). */
    const count = (opts: ConstructorParameters<typeof Serial>[0]) => {
      const g = paced({ inputBufferSize: 1 << 17, ...opts });
      g.w(IIR, 0x01);
      g.serial.enqueueInput(new Uint8Array(1 << 17));
      const end = g.now() + 1000;
      let n = 0;
      while (g.now() < end) {
        g.advance(1);
        n += g.isr().length;
      }
      return n;
    };
    // a FIFO's worth at once, then the rate
    const slow = count({});
    expect(slow).toBeGreaterThanOrEqual(960 * 0.99);
    expect(slow).toBeLessThanOrEqual(960 * 1.01 + SERIAL_FIFO_SIZE + 1);
    const fast = count({ inputRate: 50_000 });
    expect(fast).toBeGreaterThanOrEqual(50_000 * 0.99);
    expect(fast).toBeLessThanOrEqual(50_000 * 1.01 + SERIAL_FIFO_SIZE + 1);
  });

  it('delivers input at once to an idle line (typing and short commands are not delayed)', () => {
    const g = paced();
    g.w(IIR, 0x01);
    g.w(IER, 0x01);
    g.serial.enqueueInput(new TextEncoder().encode('echo hello\n'));
    expect(g.irq.triggers).toBe(1);
    expect(String.fromCharCode(...g.isr())).toBe('echo hello\n');
  });

  it('raises the interrupt from its own timer for input that arrives while the guest is idle', async () => {
    const g = setup({ inputRate: 20_000 }); // real clock, its own timer
    g.w(IIR, 0x01);
    g.w(IER, 0x01);
    const input = new Uint8Array(1000).map((_, i) => i & 0xff);
    g.serial.enqueueInput(input);
    const got: number[] = [];
    let seen = 0;
    for (let i = 0; i < 2000 && got.length < input.length; i++) {
      if (g.irq.triggers !== seen) {
        seen = g.irq.triggers;
        while (g.r(LSR) & 1) got.push(g.r(RBR));
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(got).toEqual([...input]);
    expect(g.irq.triggers).toBeGreaterThan(1); // the rest came from the timer, not from the guest
  });
});

describe('Serial close', () => {
  it('stops the input timer: no interrupt after close()', async () => {
    const g = setup({ inputRate: 1000 });
    g.w(IIR, 0x01);
    g.w(IER, 0x01);
    g.serial.enqueueInput(new Uint8Array(500));
    while (g.r(LSR) & 1) g.r(RBR);
    const seen = g.irq.triggers;
    g.serial.close();
    expect(g.serial.pendingInput).toBe(0);
    await new Promise((r) => setTimeout(r, 30)); // 30 characters' time at 1000/s
    expect(g.irq.triggers).toBe(seen);
    expect(g.r(LSR) & 1).toBe(0);
    expect(g.serial.enqueueInput(Uint8Array.of(1))).toBe(0);
  });
});
