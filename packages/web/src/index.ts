/**
 * ts-vmm in a web page: {@link startVm} boots a Linux kernel on the pure-TypeScript x86-64
 * emulator in a dedicated Web Worker and connects its serial console to a terminal (an xterm.js
 * `Terminal`, or anything with `write` and `onData`).
 *
 * The page must be cross-origin isolated (`Cross-Origin-Opener-Policy: same-origin` and
 * `Cross-Origin-Embedder-Policy: require-corp`): guest RAM is a shared `WebAssembly.Memory`. The
 * `ts-vmm-web` server sends those headers.
 *
 * @packageDocumentation
 */
import type { FromWorker, StartMessage, ToWorker } from './protocol.js';

export type { FromWorker, StartMessage, ToWorker } from './protocol.js';

/** What went wrong, for code that branches on it. */
export type WebVmErrorKind =
  /** An image could not be fetched (a wrong URL, an HTTP error, the network). */
  | 'fetch'
  /** The VM could not boot the images: a file that is not a kernel, an initrd that does not fit. */
  | 'boot'
  /** The page cannot run a VM: no cross-origin isolation (SharedArrayBuffer), no Web Workers. */
  | 'environment'
  /** An option {@link startVm} does not accept. */
  | 'invalid-argument'
  /** The worker failed (its script did not load, or it threw). */
  | 'worker';

/**
 * The one error class of this package; the message names what was wrong, e.g.
 * `kernel http://localhost:8080/nope: HTTP 404 Not Found`.
 *
 * @example
 * ```ts
 * try {
 *   await startVm({ kernel: '/guest/kernel' });
 * } catch (e) {
 *   if (e instanceof WebVmError && e.kind === 'fetch') console.error(e.message);
 * }
 * ```
 */
export class WebVmError extends Error {
  override readonly name = 'WebVmError';
  readonly kind: WebVmErrorKind;

  constructor(kind: WebVmErrorKind, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
  }
}

/** An image: a URL to fetch, a `File`/`Blob` (a dropped file), or the bytes. */
export type ImageSource = string | URL | Blob | ArrayBuffer | Uint8Array;

/**
 * Where the guest console goes: an xterm.js `Terminal` fits as it is. `onData` (keyboard input)
 * is optional.
 */
export interface VmTerminal {
  write(data: string | Uint8Array): void;
  onData?(listener: (data: string) => void): { dispose(): void };
}

/** A step of {@link startVm}, for a progress bar. */
export type VmProgress =
  | {
      phase: 'download';
      /** `kernel`, `initrd` or `disk`. */
      what: string;
      loaded: number;
      /** The size when the server said it (Content-Length). */
      total?: number;
    }
  | { phase: 'boot'; summary: string; cmdline: string };

/** The guest's execution rate, about once a second. */
export interface VmStats {
  /** Instructions retired since the boot. */
  instructions: number;
  /** Over the last interval. */
  instructionsPerSecond: number;
}

/** How the run ended: the reference VMM's stop reasons (`poweroff`, `reboot`, `panic`, `error`, `user-quit`...). */
export interface VmExit {
  reason: string;
  detail?: string;
}

/** Options of {@link startVm}. */
export interface StartVmOptions {
  /** The kernel: a bzImage, an ELF vmlinux (PVH) or a multiboot kernel. */
  kernel: ImageSource;
  /** The initramfs (a newc cpio, compressed or not). */
  initrd?: ImageSource;
  /** A raw disk image for virtio-blk, kept in memory (the guest's writes change it). */
  disk?: ImageSource;
  /** Guest RAM in MiB (default 256; at most 3072: it lies in one wasm32 memory). */
  memoryMib?: number;
  /** The kernel command line (default `console=ttyS0 reboot=k panic=1 pci=off`). */
  cmdline?: string;
  /** Appended to the command line. */
  cmdlineAppend?: string;
  /** The serial console (COM1). */
  terminal?: VmTerminal;
  onProgress?: (progress: VmProgress) => void;
  onStats?: (stats: VmStats) => void;
  /** The VMM's log lines (boot timer, device errors). */
  onLog?: (line: string) => void;
  /** The worker script (default `worker.js` next to this module). */
  workerUrl?: string | URL;
}

/** A running VM. */
export interface VmHandle {
  /** Settles when the guest powers off, reboots, panics or is stopped. */
  readonly onExit: Promise<VmExit>;
  /** Sends bytes to the serial console, as typed keys. */
  input(data: string | Uint8Array): void;
  /** Stops the VM (the run ends with `user-quit`) and ends its worker. */
  stop(): Promise<VmExit>;
}

const DEFAULT_MEMORY_MIB = 256;
const MAX_MEMORY_MIB = 3072;

async function readStream(
  res: Response,
  onChunk: (loaded: number, total: number | undefined) => void,
): Promise<ArrayBuffer> {
  const length = Number(res.headers.get('content-length'));
  const total = Number.isFinite(length) && length > 0 ? length : undefined;
  if (!res.body) return res.arrayBuffer();
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    onChunk(loaded, total);
  }
  const out = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out.buffer;
}

/**
 * Fetches (or reads) one image into an `ArrayBuffer` of its own, reporting progress.
 * @example const bytes = await loadImage('kernel', '/guest/kernel', (loaded) => console.log(loaded));
 */
export async function loadImage(
  what: string,
  source: ImageSource,
  onProgress?: (loaded: number, total: number | undefined) => void,
): Promise<ArrayBuffer> {
  if (source instanceof ArrayBuffer) return source.slice(0);
  if (source instanceof Uint8Array) return source.slice().buffer as ArrayBuffer;
  if (typeof Blob !== 'undefined' && source instanceof Blob) {
    onProgress?.(0, source.size);
    const bytes = await source.arrayBuffer();
    onProgress?.(bytes.byteLength, source.size);
    return bytes;
  }
  if (typeof source !== 'string' && !(source instanceof URL))
    throw new WebVmError('invalid-argument', `${what}: not a URL, Blob or bytes`);
  const url = String(source);
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new WebVmError('fetch', `${what} ${url}: ${(e as Error).message}`, { cause: e });
  }
  if (!res.ok)
    throw new WebVmError('fetch', `${what} ${res.url || url}: HTTP ${res.status} ${res.statusText}`.trim());
  try {
    return await readStream(res, (loaded, total) => onProgress?.(loaded, total));
  } catch (e) {
    throw new WebVmError('fetch', `${what} ${url}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Boots a VM: fetches the images, starts the worker, loads the kernel; resolves once the guest
 * runs. Rejects with a {@link WebVmError}: `fetch` for a wrong URL, `boot` for a file that is not
 * a kernel, `environment` on a page that is not cross-origin isolated.
 *
 * @example
 * ```ts
 * import { Terminal } from '@xterm/xterm';
 * const terminal = new Terminal();
 * terminal.open(document.getElementById('terminal')!);
 * const vm = await startVm({ kernel: '/guest/kernel', initrd: '/guest/initrd', memoryMib: 256, terminal });
 * vm.onExit.then((exit) => console.log(`guest ${exit.reason}`));
 * // later: await vm.stop();
 * ```
 */
export async function startVm(options: StartVmOptions): Promise<VmHandle> {
  const memoryMib = options.memoryMib ?? DEFAULT_MEMORY_MIB;
  if (!Number.isSafeInteger(memoryMib) || memoryMib < 16 || memoryMib > MAX_MEMORY_MIB)
    throw new WebVmError(
      'invalid-argument',
      `memoryMib: ${memoryMib} is not a whole number of MiB from 16 to ${MAX_MEMORY_MIB}`,
    );
  if (
    typeof SharedArrayBuffer === 'undefined' ||
    (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === false
  )
    throw new WebVmError(
      'environment',
      'this page is not cross-origin isolated, so it has no SharedArrayBuffer for guest memory: serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp (ts-vmm-web does)',
    );
  if (typeof Worker === 'undefined') throw new WebVmError('environment', 'this page has no Web Workers');

  const progress = (what: string) => (loaded: number, total: number | undefined) =>
    options.onProgress?.({ phase: 'download', what, loaded, total });
  const [kernel, initrd, disk] = await Promise.all([
    loadImage('kernel', options.kernel, progress('kernel')),
    options.initrd === undefined ? undefined : loadImage('initrd', options.initrd, progress('initrd')),
    options.disk === undefined ? undefined : loadImage('disk', options.disk, progress('disk')),
  ]);

  const worker = new Worker(options.workerUrl ?? new URL('./worker.js', import.meta.url), { type: 'module' });
  const send = (m: ToWorker, transfer: Transferable[] = []) => worker.postMessage(m, transfer);
  const encoder = new TextEncoder();
  let input: { dispose(): void } | undefined;
  let resolveExit!: (e: VmExit) => void;
  const onExit = new Promise<VmExit>((r) => {
    resolveExit = r;
  });
  let exited = false;
  const end = (e: VmExit) => {
    if (exited) return;
    exited = true;
    input?.dispose();
    worker.terminate();
    resolveExit(e);
  };

  const started = new Promise<void>((resolve, reject) => {
    worker.onmessage = (ev: MessageEvent<FromWorker>) => {
      const m = ev.data;
      switch (m.type) {
        case 'output':
          options.terminal?.write(m.data);
          break;
        case 'booting':
          options.onProgress?.({ phase: 'boot', summary: m.summary, cmdline: m.cmdline });
          resolve();
          break;
        case 'log':
          options.onLog?.(m.line);
          break;
        case 'stats':
          options.onStats?.({ instructions: m.instructions, instructionsPerSecond: m.instructionsPerSecond });
          break;
        case 'exit':
          end({ reason: m.reason, detail: m.detail });
          resolve();
          break;
        case 'error':
          end({ reason: 'error', detail: m.message });
          reject(new WebVmError('boot', m.message));
          break;
      }
    };
    worker.onerror = (ev) => {
      ev.preventDefault();
      const message = `the VM worker failed: ${ev.message || 'its script did not load'}`;
      end({ reason: 'error', detail: message });
      reject(new WebVmError('worker', message));
    };
  });
  const start: StartMessage = {
    type: 'start',
    kernel,
    initrd,
    disk,
    memoryMib,
    cmdline: options.cmdline,
    cmdlineAppend: options.cmdlineAppend,
  };
  send(start, [kernel, ...(initrd ? [initrd] : []), ...(disk ? [disk] : [])]);
  await started;

  const handle: VmHandle = {
    onExit,
    input(data) {
      if (exited) return;
      const bytes = typeof data === 'string' ? encoder.encode(data) : data.slice();
      send({ type: 'input', data: bytes }, [bytes.buffer]);
    },
    stop() {
      if (!exited) {
        send({ type: 'stop' });
        // A worker that does not answer within a second is ended anyway.
        setTimeout(() => end({ reason: 'user-quit', detail: 'stopped by the page' }), 1000);
      }
      return onExit;
    },
  };
  input = options.terminal?.onData?.((d) => handle.input(d));
  return handle;
}
