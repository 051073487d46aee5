/**
 * The VM's Web Worker: waits for a `start` message, builds the {@link BrowserMachine} and runs it,
 * batching console output into one message per event-loop turn and posting the instruction rate
 * about once a second.
 *
 * @module
 */
import type { FromWorker, ToWorker } from '../protocol.js';
import { BrowserMachine } from './machine.js';

interface WorkerScope {
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  onmessage: ((ev: MessageEvent<ToWorker>) => void) | null;
}
const scope = globalThis as unknown as WorkerScope;

let machine: BrowserMachine | undefined;
let ended = false;
let out: Uint8Array[] = [];
let last = { t: 0, n: 0 };

const post = (m: FromWorker, transfer?: Transferable[]) => scope.postMessage(m, transfer);

function flushOutput(): void {
  if (out.length === 0) return;
  let n = 0;
  for (const c of out) n += c.length;
  const data = new Uint8Array(n);
  n = 0;
  for (const c of out) {
    data.set(c, n);
    n += c.length;
  }
  out = [];
  post({ type: 'output', data }, [data.buffer]);
}

async function start(m: Extract<ToWorker, { type: 'start' }>): Promise<void> {
  try {
    machine = await BrowserMachine.create(
      {
        kernel: new Uint8Array(m.kernel),
        initrd: m.initrd ? new Uint8Array(m.initrd) : undefined,
        disk: m.disk ? new Uint8Array(m.disk) : undefined,
        memoryMib: m.memoryMib,
        cmdline: m.cmdline,
        cmdlineAppend: m.cmdlineAppend,
      },
      {
        output: (bytes) => {
          out.push(bytes);
        },
        log: (line) => post({ type: 'log', line }),
        exit: (reason, detail) => {
          ended = true;
          flushOutput();
          post({ type: 'exit', reason, detail });
        },
        afterSlice: () => {
          flushOutput();
          reportRate();
        },
      },
    );
  } catch (e) {
    post({ type: 'error', message: (e as Error).message ?? String(e) });
    return;
  }
  post({ type: 'booting', summary: machine.summary, cmdline: machine.cmdline });
  last = { t: performance.now(), n: machine.instructions };
  machine.start();
}

/** Posts the instruction rate once a second of host time has passed since the last report. */
function reportRate(): void {
  if (!machine || ended) return;
  const now = performance.now();
  if (now - last.t < 1000) return;
  const n = machine.instructions;
  post({ type: 'stats', instructions: n, instructionsPerSecond: ((n - last.n) * 1000) / (now - last.t) });
  last = { t: now, n };
}

scope.onmessage = (ev) => {
  const m = ev.data;
  if (m.type === 'start') {
    if (!machine) void start(m);
  } else if (m.type === 'input') machine?.input(m.data);
  else if (m.type === 'stop') machine?.stop();
};
