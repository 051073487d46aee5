// Spawned by src/node/unix-socket-vsock.test.ts: listens with a UnixSocketVsockBackend on argv[2],
// prints "listening", then ends the way argv[3] says without calling close(): `exit`
// (process.exit), `throw` (an uncaught exception), `hang` (waits to be killed).
import { UnixSocketVsockBackend } from '../src/node/unix-socket-vsock.js';

const [path, mode] = process.argv.slice(2);
const backend = new UnixSocketVsockBackend({ path });
await backend.listen(() => {});
process.stdout.write('listening\n');
if (mode === 'exit') process.exit(3);
if (mode === 'throw')
  setTimeout(() => {
    throw new Error('uncaught in the VMM');
  }, 0);
if (mode === 'hang') setInterval(() => {}, 1000);
