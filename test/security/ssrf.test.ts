import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCallbackUrl, guardedLookup } from '../../src/executions/callback-guard.js';

/**
 * SSRF through callbacks (Judge0's CVE-2024-29021): a callback URL may not point at loopback, the
 * cloud metadata service, private ranges or the Docker host, unless config allows private callbacks.
 * Only local names are resolved here (localhost from /etc/hosts); nothing leaves the machine.
 */
describe('security: callback URLs (SSRF)', () => {
  let hits = 0;
  const server = createServer((_req, res) => {
    hits++;
    res.end('ok');
  });
  let port = 0;
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const internal = [
    'http://127.0.0.1:PORT/hook',
    'http://localhost:PORT/hook',
    'http://LOCALHOST:PORT/hook',
    'http://127.1:PORT/', // WHATWG URL normalises these spellings to 127.0.0.1
    'http://2130706433:PORT/',
    'http://0x7f.0.0.1:PORT/',
    'http://017700000001:PORT/',
    'http://0.0.0.0:PORT/',
    'http://[::1]:PORT/',
    'http://[::]:PORT/',
    'http://[::ffff:127.0.0.1]:PORT/',
    'http://[0:0:0:0:0:ffff:7f00:1]:PORT/',
    'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
    'http://[fd00:ec2::254]/latest/meta-data/',
    'http://[fe80::1]/',
    'http://10.0.0.1/',
    'http://172.16.0.1/',
    'http://172.17.0.1:2375/containers/json', // the Docker bridge gateway and the engine's port
    'https://172.17.0.1:2376/',
    'http://192.168.1.1/',
    'http://100.64.0.1/',
    'http://[::ffff:a9fe:a9fe]/', // metadata, IPv4-mapped
    'http://[64:ff9b::a9fe:a9fe]/', // metadata through NAT64
  ];

  it('refuses loopback, metadata, private and bridge addresses in every spelling', async () => {
    for (const raw of internal) {
      const url = raw.replace('PORT', String(port));
      await expect(checkCallbackUrl(url, false), url).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
    }
  });

  it('refuses other schemes and credentials even when private callbacks are allowed', async () => {
    for (const url of [
      'file:///etc/passwd',
      'gopher://127.0.0.1:6379/_FLUSHALL',
      'ftp://127.0.0.1/',
      'unix:/var/run/docker.sock',
      'http://user:pass@127.0.0.1/',
      'not a url',
    ]) {
      await expect(checkCallbackUrl(url, true), url).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
    }
  });

  it('allows internal callbacks only when config says so', async () => {
    const url = await checkCallbackUrl(`http://localhost:${port}/hook`, true);
    expect(url.port).toBe(String(port));
  });

  it('pins the delivery to checked addresses: a name resolving to loopback is refused at connect time', async () => {
    const post = (allowPrivate: boolean) =>
      new Promise<string>((resolve) => {
        const req = request(
          {
            host: 'localhost',
            family: 4,
            port,
            path: '/hook',
            method: 'POST',
            lookup: guardedLookup(allowPrivate),
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve(`status ${res.statusCode}`));
          },
        );
        req.on('error', (e) => resolve((e as NodeJS.ErrnoException).code ?? e.message));
        req.end('{}');
      });
    expect(await post(false)).toBe('EPRIVATEADDRESS');
    expect(hits).toBe(0);
    // Positive control: the listener is there, and allowed when the config allows it.
    expect(await post(true)).toBe('status 200');
    expect(hits).toBe(1);
  });
});
