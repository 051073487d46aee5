import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { OutputGuard } from '../vmm/output-guard.js';
import { settleOutput } from './process.js';

class FakeStream extends EventEmitter {
  writableLength = 0;
  write(): boolean {
    return true;
  }
}

describe('settleOutput', () => {
  it('returns at once when nothing is queued', async () => {
    await settleOutput([new OutputGuard(new FakeStream())], 60_000);
  });

  it('gives up on a reader that takes nothing (the queue is still there when it returns)', async () => {
    const s = new FakeStream();
    s.writableLength = 4096;
    await settleOutput([new OutputGuard(s)], 50);
    expect(s.writableLength).toBe(4096);
  });

  it('waits for a reader that keeps taking the output until all of it is written', async () => {
    const s = new FakeStream();
    s.writableLength = 10;
    const reader = setInterval(() => {
      s.writableLength = Math.max(0, s.writableLength - 1);
    }, 5);
    try {
      await settleOutput([new OutputGuard(s)], 1000);
      expect(s.writableLength).toBe(0);
    } finally {
      clearInterval(reader);
    }
  });

  it('does not wait for a stream that failed', async () => {
    const s = new FakeStream();
    const g = new OutputGuard(s);
    s.writableLength = 4096;
    s.emit('error', new Error('EPIPE'));
    await settleOutput([g], 60_000);
    expect(g.closed).toBe(true);
  });
});
