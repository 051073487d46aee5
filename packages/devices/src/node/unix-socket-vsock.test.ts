import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { DeviceError } from '../errors.js';
import { UnixSocketVsockBackend } from './unix-socket-vsock.js';

const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-vmm-uds-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function listenError(p: string): Promise<DeviceError> {
  const b = new UnixSocketVsockBackend({ path: p });
  const e = await b
    .listen(() => {})
    .then(
      () => undefined,
      (err: unknown) => err,
    );
  await b.close();
  if (!(e instanceof DeviceError)) throw new Error(`listen on ${p} did not fail with a DeviceError: ${e}`);
  return e;
}

/** Runs test/vsock-exit-child.ts; resolves once it printed "listening", with its exit. */
function child(p: string, mode: 'exit' | 'throw' | 'hang') {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(pkg, 'test/vsock-exit-child.ts'), p, mode],
    {
      cwd: pkg,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let err = '';
  proc.stderr.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) =>
    proc.once('exit', (code, signal) => r({ code, signal })),
  );
  const listening = new Promise<void>((resolve, reject) => {
    proc.stdout.on('data', (d) => {
      if (String(d).includes('listening')) resolve();
    });
    void exited.then(() => reject(new Error(`child exited before listening: ${err}`)));
  });
  return { proc, listening, exited, stderr: () => err };
}

describe('UnixSocketVsockBackend: the socket file and listen errors', () => {
  it('names ENOENT and the missing directory, not EACCES', async () => {
    const p = path.join(tmp, 'no-such-dir', 'vm.sock');
    const e = await listenError(p);
    expect(e.kind).toBe('io');
    expect(e.message).toContain(p);
    expect(e.message).toMatch(/ENOENT/);
    expect(e.message).toContain(`directory ${path.join(tmp, 'no-such-dir')} does not exist`);
    expect(e.message).not.toMatch(/EACCES/);
  });

  it('names ENOTDIR when a part of the path is a file', async () => {
    const f = path.join(tmp, 'plain-file');
    fs.writeFileSync(f, '');
    const e = await listenError(path.join(f, 'vm.sock'));
    expect(e.message).toMatch(/ENOTDIR/);
    expect(e.message).toContain(`${f} is not a directory`);
  });

  it('refuses a path that is a regular file, and leaves the file alone', async () => {
    const p = path.join(tmp, 'regular');
    fs.writeFileSync(p, 'keep me');
    const e = await listenError(p);
    expect(e.message).toMatch(/EADDRINUSE/);
    expect(e.message).toMatch(/not a socket/);
    expect(fs.readFileSync(p, 'utf8')).toBe('keep me');
  });

  it('takes over the socket file of a VMM that was killed (nobody listens on it any more)', async () => {
    const p = path.join(tmp, 'stale.sock');
    const c = child(p, 'hang');
    await c.listening;
    c.proc.kill('SIGKILL');
    await c.exited;
    expect(fs.existsSync(p)).toBe(true); // left behind: SIGKILL runs no cleanup
    const b = new UnixSocketVsockBackend({ path: p });
    await b.listen(() => {});
    const s = net.createConnection(p);
    await new Promise<void>((r, j) => s.once('connect', () => r()).once('error', j));
    s.destroy();
    await b.close();
    expect(fs.existsSync(p)).toBe(false);
  });

  it('does not take over a socket file someone still listens on', async () => {
    const p = path.join(tmp, 'live.sock');
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(p, r));
    const e = await listenError(p);
    expect(e.message).toMatch(/EADDRINUSE/);
    expect(e.message).toMatch(/another process listens/);
    const s = net.createConnection(p);
    await new Promise<void>((r, j) => s.once('connect', () => r()).once('error', j));
    s.destroy();
    await new Promise((r) => srv.close(r));
  });

  it.each(['exit', 'throw'] as const)(
    'removes the socket file when the process ends without close() (%s)',
    async (mode) => {
      const p = path.join(tmp, `${mode}.sock`);
      const c = child(p, mode);
      await c.listening;
      const { code } = await c.exited;
      expect(code).not.toBe(0);
      if (mode === 'throw') expect(c.stderr()).toMatch(/uncaught in the VMM/);
      expect(fs.existsSync(p)).toBe(false);
    },
  );

  it('removes the socket file at once when close() is called, and closes connections still sending CONNECT', async () => {
    const p = path.join(tmp, 'close.sock');
    const b = new UnixSocketVsockBackend({ path: p, connectTimeoutMs: 60_000 });
    await b.listen(() => {});
    const s = net.createConnection(p);
    await new Promise<void>((r) => s.once('connect', () => r()));
    await new Promise((r) => setTimeout(r, 20)); // the backend has taken it
    const closing = b.close();
    expect(fs.existsSync(p)).toBe(false); // before the promise settles: an exit right now leaves nothing
    const ended = new Promise<void>((r) => s.once('close', () => r()));
    await closing; // does not wait the 60 s for the half-connected host program
    await ended;
  });
});
