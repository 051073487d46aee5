/**
 * Benchmarks for linux-loader, printed as ratios against baselines measured in the same run:
 * - LZ4 legacy decode (ours, pure TypeScript) and gzip through decompressPayload (fflate, pure JS)
 *   vs gunzip (node:zlib, native) of the same data;
 * - loading a kernel image into guest memory vs a plain Uint8Array.set of the same bytes.
 * Uses the cached Debian kernel's payload when present (scripts/fetch-kernel.sh), else
 * synthetic data compressed with the lz4 CLI.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { bzImagePayload, decompressPayload, loadElf } from '../src/index.js';
import { decompressLz4Legacy } from '../src/lz4.js';

function time(fn: () => void, reps: number): number {
  fn();
  const t = performance.now();
  for (let i = 0; i < reps; i++) fn();
  return (performance.now() - t) / reps;
}

function input(): { lz4: Uint8Array; label: string } | undefined {
  const cache = process.env.TS_VMM_CACHE ?? path.join(os.homedir(), '.cache', 'ts-vmm');
  const current = path.join(cache, 'kernel', 'current');
  if (fs.existsSync(current)) {
    const k = fs.readFileSync(current, 'utf8').trim();
    if (fs.existsSync(k))
      return { lz4: bzImagePayload(new Uint8Array(fs.readFileSync(k))), label: 'Debian kernel payload' };
  }
  const data = new Uint8Array(16 << 20);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) % 251 < 128 ? i & 0x3f : 0;
  const r = spawnSync('lz4', ['-l', '-c'], { input: data, maxBuffer: 1 << 28 });
  if (r.status !== 0) return undefined;
  return { lz4: new Uint8Array(r.stdout), label: '16 MiB synthetic data' };
}

const src = input();
if (!src) {
  console.log('skipped: no cached kernel and no lz4 CLI to make benchmark input');
} else {
  const out = decompressLz4Legacy(src.lz4);
  const gz = gzipSync(out, { level: 6 });
  const reps = 3;
  const lz4Ms = time(() => decompressLz4Legacy(src.lz4), reps);
  const gzMs = time(() => gunzipSync(gz), reps);
  const gzJsMs = time(() => decompressPayload(gz), reps);
  console.log(`${src.label}: ${(out.length / 2 ** 20).toFixed(1)} MiB decompressed`);
  console.log(
    `  lz4 decode (TypeScript)       ${lz4Ms.toFixed(1)} ms = ${(lz4Ms / gzMs).toFixed(2)}x gunzip (native zlib, baseline ${gzMs.toFixed(1)} ms)`,
  );
  console.log(
    `  gzip decode (fflate, JS)      ${gzJsMs.toFixed(1)} ms = ${(gzJsMs / gzMs).toFixed(2)}x gunzip (native zlib, baseline ${gzMs.toFixed(1)} ms)`,
  );

  if (out[0] === 0x7f && out[1] === 0x45) {
    const mem = GuestMemory.createShared([{ start: 0, size: 256 << 20 }]);
    const plain = new Uint8Array(256 << 20);
    const loadMs = time(() => loadElf(out, mem), reps);
    const copyMs = time(() => plain.set(out.subarray(0, Math.min(out.length, plain.length))), reps);
    console.log(
      `  loadElf into guest memory     ${loadMs.toFixed(1)} ms = ${(loadMs / copyMs).toFixed(2)}x a plain copy of the image (baseline ${copyMs.toFixed(1)} ms)`,
    );
  }
}
