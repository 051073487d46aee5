import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { ExitChannel, ExitKind, type ExitRequest } from './exit-channel.js';

/** Runs `body` (an async function source taking `ExitChannel` and the channel's buffer) in a worker. */
function inWorker(sab: SharedArrayBuffer, body: string): Promise<unknown> {
  const tsx = pathToFileURL(
    createRequire(import.meta.url)
      .resolve('tsx/esm/api')
      .replace(/\.cjs$/, '.mjs'),
  ).href;
  const mod = new URL('./exit-channel.ts', import.meta.url).href;
  const code = `
    const { workerData, parentPort } = require('node:worker_threads');
    import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(mod)}); })
      .then(async ({ ExitChannel, ExitKind }) => parentPort.postMessage(await (${body})(new ExitChannel(workerData), ExitKind)))
      .catch((e) => parentPort.postMessage({ error: String(e) }));`;
  const w = new Worker(code, { eval: true, workerData: sab });
  return new Promise((resolve, reject) => {
    w.once('message', (m) => {
      void w.terminate();
      resolve(m);
    });
    w.once('error', reject);
  });
}

describe('ExitChannel', () => {
  it('carries requests from a vCPU thread to the device side and answers back, in order', async () => {
    const ch = ExitChannel.create();
    const seen: Omit<ExitRequest, 'data'>[] = [];
    let value = 0;
    const serving = ch.serve((req) => {
      seen.push({ kind: req.kind, address: req.address, size: req.size, count: req.count });
      if (req.kind === ExitKind.PIO_READ || req.kind === ExitKind.MMIO_READ) req.data.fill(value & 0xff);
      else value += req.data[0];
    });
    const result = await inWorker(
      ch.sab,
      `async (ch, K) => {
        const out = [];
        for (let i = 1; i <= 50; i++) {
          ch.call(K.PIO_WRITE, 0x3f8, 1, 1, Uint8Array.of(i));
          const d = new Uint8Array(4);
          ch.call(K.MMIO_READ, 0x1_0000_2000 + i, 4, 1, d);
          out.push(d[0]);
        }
        const rep = new Uint8Array(8);
        ch.call(K.PIO_READ, 0x60, 2, 4, rep);
        return { out, rep: [...rep] };
      }`,
    );
    ch.close();
    await serving;
    const expected = Array.from({ length: 50 }, (_, i) => (((i + 1) * (i + 2)) / 2) & 0xff);
    expect(result).toEqual({ out: expected, rep: new Array(8).fill(((50 * 51) / 2) & 0xff) });
    expect(seen).toHaveLength(101);
    expect(seen[1]).toEqual({ kind: ExitKind.MMIO_READ, address: 0x1_0000_2001, size: 4, count: 1 });
    expect(seen[100]).toEqual({ kind: ExitKind.PIO_READ, address: 0x60, size: 2, count: 4 });
  });

  it('close() releases a vCPU waiting for an answer', async () => {
    const ch = ExitChannel.create();
    const pending = inWorker(ch.sab, `async (ch, K) => ch.call(K.PIO_READ, 0x3f8, 1, 1, new Uint8Array(1))`);
    setTimeout(() => ch.close(), 100);
    expect(await pending).toBe(false);
    expect(ch.closed).toBe(true);
  });
});
