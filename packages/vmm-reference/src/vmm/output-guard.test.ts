import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { guardStream, OutputGuard } from './output-guard.js';

class FakeStream extends EventEmitter {
  writableLength = 0;
  written: string[] = [];
  write(chunk: string | Uint8Array): boolean {
    this.written.push(String(chunk));
    return true;
  }
}

describe('OutputGuard', () => {
  it('an error closes the stream once, tells each listener, and later lines are dropped and counted', () => {
    const s = new FakeStream();
    const g = new OutputGuard(s, 100);
    const seen: string[] = [];
    g.onClose((e) => seen.push(`a:${(e as NodeJS.ErrnoException).code}`));
    const off = g.onClose(() => seen.push('b'));
    off();
    g.writeLine('before');
    const epipe = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
    s.emit('error', epipe); // without the guard's listener this would throw
    s.emit('error', epipe);
    g.writeLine('after');
    expect(s.written).toEqual(['before\n']);
    expect(seen).toEqual(['a:EPIPE']);
    expect(g).toMatchObject({ closed: true, error: epipe, droppedLines: 1 });
  });

  it('drops lines while more than the bound is unwritten, and writes again once it drains', () => {
    const s = new FakeStream();
    const g = new OutputGuard(s, 100);
    s.writableLength = 101;
    g.writeLine('x');
    g.writeLine('y');
    s.writableLength = 100;
    g.writeLine('z');
    expect(s.written).toEqual(['z\n']);
    expect(g.droppedLines).toBe(2);
  });

  it('guardStream gives one guard, with one error listener, per stream', () => {
    const s = new FakeStream();
    expect(guardStream(s)).toBe(guardStream(s));
    expect(s.listenerCount('error')).toBe(1);
  });
});
