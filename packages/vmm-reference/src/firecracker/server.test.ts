import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FirecrackerInstance } from './instance.js';
import { FirecrackerLogger } from './logger.js';
import { validateBody } from './schema.js';
import { ApiServer } from './server.js';

const dir = mkdtempSync(join(tmpdir(), 'fc-server-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

function instance() {
  return new FirecrackerInstance({
    startVm: () => Promise.reject(new Error('no VM in this test')),
    logger: new FirecrackerLogger({ instanceId: 't', level: 'Off' }),
  });
}

async function serve() {
  const path = join(dir, `api${n++}.sock`);
  const server = await ApiServer.listen(path, instance());
  return { path, server };
}

/** One HTTP request over the socket; the answer's body parsed and checked against the schema. */
function call(path: string, method: string, url: string, body?: string | Buffer) {
  return new Promise<{ status: number; body: unknown; headers: Record<string, unknown> }>(
    (resolve, reject) => {
      const req = request(
        {
          socketPath: path,
          method,
          path: url,
          headers: body === undefined ? {} : { 'Content-Length': Buffer.byteLength(body) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            let parsed: unknown;
            if (status === 204) expect(text).toBe('');
            else {
              expect(res.headers['content-type']).toBe('application/json');
              parsed = JSON.parse(text);
              if (status >= 400) validateBody('Error', parsed);
            }
            resolve({ status, body: parsed, headers: res.headers });
          });
        },
      );
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    },
  );
}

/** Raw bytes to the socket; resolves to everything the server sent back before closing. */
function raw(path: string, bytes: string | Buffer) {
  return new Promise<string>((resolve) => {
    const s = connect(path);
    let out = '';
    s.on('data', (c) => {
      out += c.toString('latin1');
    });
    s.on('close', () => resolve(out));
    s.on('error', () => {});
    s.write(bytes);
    setTimeout(() => s.end(), 300);
  });
}

describe('ApiServer', () => {
  it('refuses an existing path and removes its socket file on close', async () => {
    const file = join(dir, 'taken');
    writeFileSync(file, '');
    await expect(ApiServer.listen(file, instance())).rejects.toThrow(/--api-sock: .*taken" already exists/);
    const { path, server } = await serve();
    expect(existsSync(path)).toBe(true);
    await expect(ApiServer.listen(path, instance())).rejects.toThrow(/already exists/);
    await server.close();
    expect(existsSync(path)).toBe(false);
  });

  it('serves GET and PUT over HTTP/1.1 with 200 and 204', async () => {
    const { path, server } = await serve();
    const info = await call(path, 'GET', '/');
    expect(info.status).toBe(200);
    expect(validateBody('InstanceInfo', info.body).state).toBe('Not started');
    const put = await call(
      path,
      'PUT',
      '/machine-config',
      JSON.stringify({ vcpu_count: 2, mem_size_mib: 256 }),
    );
    expect(put.status).toBe(204);
    expect((await call(path, 'GET', '/machine-config')).body).toMatchObject({
      vcpu_count: 2,
      mem_size_mib: 256,
    });
    await server.close();
  });

  it('answers an oversized body with 400 naming the limit, and keeps serving', async () => {
    const { path, server } = await serve();
    const big = JSON.stringify({ kernel_image_path: 'x'.repeat(60_000) });
    const r = await call(path, 'PUT', '/boot-source', big);
    expect(r.status).toBe(400);
    expect((r.body as { fault_message: string }).fault_message).toBe(
      `Request payload with size ${big.length} is larger than the limit of 51200 allowed by server.`,
    );
    // chunked, without a Content-Length
    const chunked = await raw(
      path,
      `PUT /boot-source HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${(60000).toString(16)}\r\n${'y'.repeat(60000)}\r\n0\r\n\r\n`,
    );
    expect(chunked).toMatch(/^HTTP\/1\.1 400 /);
    expect(chunked).toContain('is larger than the limit of 51200');
    expect((await call(path, 'GET', '/')).status).toBe(200);
    await server.close();
  });

  it('answers malformed HTTP with 400 and keeps serving', async () => {
    const { path, server } = await serve();
    for (const bad of [
      'GARBAGE\r\n\r\n',
      'GET / HTTP/9.9\r\n\r\n',
      'PUT /machine-config HTTP/1.1\r\nContent-Length: abc\r\n\r\n',
      Buffer.from([0, 1, 2, 3, 13, 10, 13, 10]),
    ]) {
      const out = await raw(path, bad);
      expect(out, JSON.stringify(bad.toString())).toMatch(/^HTTP\/1\.1 400 /);
      const body = out.slice(out.indexOf('\r\n\r\n') + 4);
      expect(validateBody('Error', JSON.parse(body)).fault_message).toMatch(/Malformed HTTP request/);
    }
    expect((await call(path, 'GET', '/version')).status).toBe(200);
    await server.close();
  });

  it('answers many clients at once, each correctly, while bad requests are mixed in', async () => {
    const { path, server } = await serve();
    const jobs: Promise<void>[] = [];
    for (let i = 0; i < 60; i++) {
      if (i % 3 === 0) {
        jobs.push(
          call(
            path,
            'PUT',
            '/machine-config',
            JSON.stringify({ vcpu_count: (i % 32) + 1, mem_size_mib: 128 }),
          ).then((r) => expect(r.status).toBe(204)),
        );
      } else if (i % 3 === 1) {
        jobs.push(
          call(path, 'PUT', '/machine-config', '{"vcpu_count": ').then((r) => {
            expect(r.status).toBe(400);
            expect((r.body as { fault_message: string }).fault_message).toMatch(/deserializing/);
          }),
        );
      } else {
        jobs.push(call(path, 'GET', `/unknown/${i}`).then((r) => expect(r.status).toBe(400)));
      }
    }
    await Promise.all(jobs);
    const mc = validateBody('MachineConfiguration', (await call(path, 'GET', '/machine-config')).body);
    expect(mc.mem_size_mib).toBe(128);
    // one of the good PUTs (they were served one at a time, whichever came last)
    const put = Array.from({ length: 20 }, (_, k) => ((k * 3) % 32) + 1);
    expect(put).toContain(mc.vcpu_count);
    await server.close();
  });

  it('a failed InstanceStart is a 400 and the server goes on', async () => {
    const { path, server } = await serve();
    const kernel = join(dir, 'k');
    writeFileSync(kernel, 'x');
    expect(
      (await call(path, 'PUT', '/boot-source', JSON.stringify({ kernel_image_path: kernel }))).status,
    ).toBe(204);
    const r = await call(path, 'PUT', '/actions', '{"action_type":"InstanceStart"}');
    expect(r.status).toBe(500);
    expect((r.body as { fault_message: string }).fault_message).toMatch(/no VM in this test/);
    expect((await call(path, 'GET', '/')).body).toMatchObject({ state: 'Not started' });
    await server.close();
  });
});
