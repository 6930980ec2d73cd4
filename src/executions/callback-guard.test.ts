import { describe, expect, it } from 'vitest';
import { checkCallbackUrl, isPrivateAddress } from './callback-guard.js';

describe('callback guard', () => {
  it.each([
    '127.0.0.1',
    '127.1.2.3',
    '10.0.0.5',
    '172.16.0.1',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '::1',
    '::',
    'fe80::1',
    'fd00:ec2::254',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:169.254.169.254',
    '64:ff9b::10.0.0.1',
    '224.0.0.1',
  ])('refuses %s', (address) => {
    expect(isPrivateAddress(address)).toBe(true);
  });

  it.each(['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('allows public %s', (address) => {
    expect(isPrivateAddress(address)).toBe(false);
  });

  it('refuses a hostname that resolves to loopback (the resolved address counts, not the name)', async () => {
    await expect(checkCallbackUrl('http://localhost:9/hook', false)).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
      details: { path: 'callbackUrl' },
    });
  });

  it('refuses IP literals in brackets and metadata addresses', async () => {
    await expect(checkCallbackUrl('http://[::1]:80/', false)).rejects.toThrow(/private/);
    await expect(checkCallbackUrl('http://169.254.169.254/latest/meta-data', false)).rejects.toThrow(
      /private/,
    );
  });

  it('refuses other schemes and credentials', async () => {
    await expect(checkCallbackUrl('ftp://example.com/', true)).rejects.toThrow(/http/);
    await expect(checkCallbackUrl('http://u:p@example.com/', true)).rejects.toThrow(/credentials/);
    await expect(checkCallbackUrl('not a url', true)).rejects.toThrow(/valid URL/);
  });

  it('allows private addresses when configured to', async () => {
    await expect(checkCallbackUrl('http://127.0.0.1:9/hook', true)).resolves.toBeInstanceOf(URL);
  });
});
