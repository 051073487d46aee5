/**
 * The ts-vmm page: the serial console in an xterm.js terminal, images from the query string
 * (`?kernel=URL&initrd=URL&memory=MiB&cmdline=...&append=...`), from the server's default guest
 * (`config.json`) or from dropped files, a progress line and a status line with the guest's
 * instruction rate. `window.tsVmm` tells a test what the page shows.
 *
 * @module
 */
import '@xterm/xterm/css/xterm.css';
import './style.css';
import { Terminal } from '@xterm/xterm';
import { type ImageSource, startVm, type VmExit, type VmHandle } from '../index.js';

/** What the page exposes for tests and scripts. */
interface PageState {
  state: 'idle' | 'loading' | 'running' | 'exited' | 'error';
  exit?: VmExit;
  message?: string;
  /** The terminal's whole buffer as text, one line per row. */
  terminalText(): string;
  /** Types into the console. */
  type(text: string): void;
}

const $ = (id: string) => document.getElementById(id)!;
const progressText = $('progress-text');
const progressBar = $('progress-bar');
const status = $('status');
const message = $('message');
const stopButton = $('stop') as HTMLButtonElement;

const terminal = new Terminal({ cols: 100, rows: 30, scrollback: 5000, convertEol: false });
terminal.open($('terminal'));

let vm: VmHandle | undefined;
const page: PageState = {
  state: 'idle',
  terminalText() {
    const buf = terminal.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < buf.length; i++) lines.push(buf.getLine(i)?.translateToString(true) ?? '');
    return lines.join('\n');
  },
  type(text: string) {
    vm?.input(text);
  },
};
(window as unknown as { tsVmm: PageState }).tsVmm = page;

function setProgress(text: string, fraction?: number): void {
  progressText.textContent = text;
  if (fraction !== undefined) progressBar.style.width = `${Math.round(Math.min(1, fraction) * 100)}%`;
}

function showMessage(text: string | undefined): void {
  page.message = text;
  message.hidden = !text;
  message.textContent = text ?? '';
}

function mib(n: number): string {
  return `${(n / 1048576).toFixed(1)} MiB`;
}

function rate(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} G` : `${(n / 1e6).toFixed(1)} M`;
}

async function boot(kernel: ImageSource, initrd: ImageSource | undefined): Promise<void> {
  if (vm) await vm.stop();
  vm = undefined;
  showMessage(undefined);
  page.state = 'loading';
  page.exit = undefined;
  stopButton.disabled = true;
  terminal.reset();
  const params = new URLSearchParams(location.search);
  const memory = params.get('memory');
  const sizes: Record<string, [number, number | undefined]> = {};
  try {
    vm = await startVm({
      kernel,
      initrd,
      memoryMib: memory ? Number(memory) : undefined,
      cmdline: params.get('cmdline') ?? undefined,
      cmdlineAppend: params.get('append') ?? undefined,
      terminal,
      onProgress: (p) => {
        if (p.phase === 'download') {
          sizes[p.what] = [p.loaded, p.total];
          const all = Object.values(sizes);
          const loaded = all.reduce((a, [l]) => a + l, 0);
          const total = all.every(([, t]) => t !== undefined)
            ? all.reduce((a, [, t]) => a + t!, 0)
            : undefined;
          const parts = Object.entries(sizes).map(
            ([what, [l, t]]) => `${what} ${mib(l)}${t !== undefined ? ` / ${mib(t)}` : ''}`,
          );
          setProgress(`downloading: ${parts.join(', ')}`, total ? (loaded / total) * 0.5 : undefined);
        } else {
          setProgress(`booting: ${p.summary}`, 0.6);
        }
      },
      onLog: (line) => {
        if (line.startsWith('boot timer:')) setProgress(line.replace(/^boot timer: /, ''), 1);
        else console.info(`ts-vmm: ${line}`);
      },
      onStats: (s) => {
        status.textContent = `running · ${rate(s.instructionsPerSecond)} instructions/s · ${rate(s.instructions)} instructions so far`;
      },
    });
  } catch (e) {
    page.state = 'error';
    setProgress('not started', 0);
    const name =
      typeof kernel === 'string' ? kernel : kernel instanceof File ? kernel.name : 'the given bytes';
    const boot = (e as { kind?: string }).kind === 'boot';
    showMessage(boot ? `kernel ${name}: ${(e as Error).message}` : (e as Error).message);
    status.textContent = 'not running';
    return;
  }
  page.state = 'running';
  stopButton.disabled = false;
  terminal.focus();
  const mine = vm;
  void vm.onExit.then((exit) => {
    if (vm !== mine) return;
    page.state = 'exited';
    page.exit = exit;
    stopButton.disabled = true;
    status.textContent = `guest exited: ${exit.reason}${exit.detail ? ` (${exit.detail})` : ''}`;
    if (exit.reason === 'error' || exit.reason === 'panic') showMessage(status.textContent);
  });
}

stopButton.addEventListener('click', () => void vm?.stop());

// Files: dropped on the page or chosen in the inputs. A name like initrd/initramfs/*.cpio/*.gz is
// the initramfs; the other file is the kernel.
const isInitrd = (f: File) => /initr|\.cpio|\.gz$|\.zst$|\.xz$/i.test(f.name);
const drop = $('drop');
let chosen: { kernel?: File; initrd?: File } = {};
function bootFiles(files: File[]): void {
  for (const f of files) chosen[isInitrd(f) && files.length > 1 ? 'initrd' : 'kernel'] = f;
  if (chosen.kernel) void boot(chosen.kernel, chosen.initrd);
}
document.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
document.addEventListener('dragleave', () => drop.classList.remove('over'));
document.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  chosen = {};
  bootFiles(Array.from(e.dataTransfer?.files ?? []));
});
$('kernel-file').addEventListener('change', (e) => {
  const f = (e.target as HTMLInputElement).files?.[0];
  if (f) {
    chosen.kernel = f;
    void boot(f, chosen.initrd);
  }
});
$('initrd-file').addEventListener('change', (e) => {
  chosen.initrd = (e.target as HTMLInputElement).files?.[0];
  if (chosen.kernel) void boot(chosen.kernel, chosen.initrd);
});

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  let kernel = params.get('kernel') ?? undefined;
  let initrd = params.get('initrd') ?? undefined;
  if (!kernel) {
    // The server's default guest, when it has one.
    try {
      const res = await fetch('./config.json');
      if (res.ok) {
        const c = (await res.json()) as { kernel?: string; initrd?: string };
        kernel = c.kernel;
        initrd ??= c.initrd;
      }
    } catch {
      // no server configuration: files only
    }
  }
  if (kernel) await boot(kernel, initrd);
  else setProgress('no kernel given: drop one on the page or add ?kernel=URL', 0);
}

void main();
