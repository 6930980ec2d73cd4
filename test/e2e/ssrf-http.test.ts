import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, eventually, py, type RunningService, startService, tempDir } from './service-harness.js';

/**
 * SSRF through the HTTP API (Judge0's CVE-2024-29021): callback URLs at loopback, the metadata
 * service or private ranges are refused with 400 at submission — nothing stored, nothing run,
 * nothing sent — unless `server.allow_private_callbacks` is set. Only the validation path is taken
 * for non-loopback addresses: the service never connects to them (the positive control connects
 * to a loopback listener of this test only).
 */
describe('SSRF through the API: callback URLs', () => {
  const hits: string[] = [];
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      hits.push(body);
      res.writeHead(204).end();
    });
  });
  let port = 0;
  const tmpStrict = tempDir();
  const tmpOpen = tempDir();
  let strict: RunningService;
  let open: RunningService;

  beforeAll(async () => {
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    port = (receiver.address() as AddressInfo).port;
    strict = await startService(tmpStrict.dir);
    open = await startService(tmpOpen.dir, {
      server: { allowPrivateCallbacks: true, webhookBackoffMs: 200 },
    });
  });
  afterAll(async () => {
    await strict?.close();
    await open?.close();
    receiver.close();
    tmpStrict.remove();
    tmpOpen.remove();
  });

  const internal = () => [
    `http://127.0.0.1:${port}/hook`,
    `http://localhost:${port}/hook`,
    `http://[::1]:${port}/hook`,
    `http://0x7f000001:${port}/hook`,
    `http://[::ffff:127.0.0.1]:${port}/hook`,
    'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
    'http://[fd00:ec2::254]/latest/meta-data/',
    'http://10.0.0.1/hook',
    'http://10.255.255.254:8080/hook',
    'http://[::ffff:10.0.0.1]/hook',
    'http://172.16.0.1/',
    'http://172.17.0.1:2375/containers/json',
    'http://192.168.1.1/',
    'http://100.64.0.1/',
  ];

  it('refuses private callback URLs with 400 on /v1/executions, storing and sending nothing', async () => {
    for (const callbackUrl of internal()) {
      const started = Date.now();
      const res = await api(strict.url, 'POST', '/v1/executions?wait=false', {
        ...py('print(1)'),
        callbackUrl,
      });
      expect(res.status, callbackUrl).toBe(400);
      expect(res.json.error, callbackUrl).toMatchObject({ code: 'INVALID_REQUEST', path: 'callbackUrl' });
      // Refused on the addresses alone: no connection attempt, so no connect timeout either.
      expect(Date.now() - started, callbackUrl).toBeLessThan(9000); // under the 10 s webhook timeout
    }
    const list = await api(strict.url, 'GET', '/v1/executions');
    expect(list.json.items).toEqual([]);
    expect(hits).toEqual([]);
  });

  it('refuses them as a batch-wide callbackUrl too, accepting none of the batch', async () => {
    for (const callbackUrl of [
      `http://127.0.0.1:${port}/hook`,
      'http://169.254.169.254/',
      'http://10.1.2.3/',
    ]) {
      const res = await api(strict.url, 'POST', '/v1/batches', {
        requests: [py('print(1)'), py('print(2)')],
        callbackUrl,
      });
      expect(res.status, callbackUrl).toBe(400);
      expect(res.json.error.code).toBe('INVALID_REQUEST');
      expect(res.json.error.path).toMatch(/callbackUrl$/);
    }
    expect((await api(strict.url, 'GET', '/v1/executions')).json.items).toEqual([]);
  });

  it('refuses other schemes and credentials even when private callbacks are allowed', async () => {
    for (const callbackUrl of [
      'file:///etc/passwd',
      'gopher://127.0.0.1:6379/_FLUSHALL',
      `http://user:pass@127.0.0.1:${port}/hook`,
      'unix:/var/run/docker.sock',
    ]) {
      const res = await api(open.url, 'POST', '/v1/executions?wait=false', {
        ...py('print(1)'),
        callbackUrl,
      });
      expect(res.status, callbackUrl).toBe(400);
      expect(res.json.error.path).toBe('callbackUrl');
    }
    expect(hits).toEqual([]);
  });

  it('delivers to a loopback receiver only when allow_private_callbacks is set (positive control)', async () => {
    const res = await api(open.url, 'POST', '/v1/executions?wait=false', {
      ...py('print("hooked")'),
      callbackUrl: `http://127.0.0.1:${port}/hook`,
    });
    expect(res.status).toBe(202);
    const body = await eventually(async () => hits[0]);
    expect(JSON.parse(body)).toMatchObject({
      id: res.json.id,
      verdict: 'ok',
      result: { stdout: 'hooked\n' },
    });
  });
});
