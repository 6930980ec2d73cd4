import { createHash } from 'node:crypto';
import type { BoxrunConfig } from '../config/config.js';
import { BoxrunError } from '../core/errors.js';
import type { Caller } from '../executions/execution-service.js';

export interface AuthenticatedCaller extends Caller {
  /** Body size this caller may send (bytes). */
  maxBodyBytes: number;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/**
 * Bearer API keys. The config holds only their sha256 digests; a presented key is hashed and looked
 * up, so no key is ever kept or compared in the clear. Without configured keys every caller is
 * `anonymous` (the service binds to loopback by default).
 */
export class ApiKeyAuthenticator {
  private readonly keys = new Map<string, AuthenticatedCaller>();
  private readonly anonymous: AuthenticatedCaller;

  constructor(server: BoxrunConfig['server'], isolation: BoxrunConfig['isolation']) {
    for (const key of server.apiKeys) {
      this.keys.set(key.sha256, {
        name: key.name,
        maxConcurrent: key.maxConcurrent ?? server.keyMaxConcurrent,
        maxBodyBytes: key.maxBodyBytes
          ? Math.min(key.maxBodyBytes, server.bodyLimitBytes)
          : server.bodyLimitBytes,
        minIsolation: key.minIsolation,
        maxIsolation: key.maxIsolation,
      });
    }
    this.anonymous = {
      name: 'anonymous',
      maxConcurrent: server.keyMaxConcurrent,
      maxBodyBytes: server.bodyLimitBytes,
      minIsolation: isolation.anonymousMin,
      maxIsolation: isolation.anonymousMax,
    };
  }

  get enabled(): boolean {
    return this.keys.size > 0;
  }

  /** The caller for an Authorization header; throws UNAUTHORIZED. */
  authenticate(header: string | undefined): AuthenticatedCaller {
    if (!this.enabled) return this.anonymous;
    const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
    if (!match) throw new BoxrunError('UNAUTHORIZED', 'missing API key: send Authorization: Bearer <key>');
    const caller = this.keys.get(hashApiKey(match[1]!));
    if (!caller) throw new BoxrunError('UNAUTHORIZED', 'unknown API key');
    return caller;
  }

  /** Records belong to the caller that created them. */
  assertOwner(caller: Caller, owner: string, what: string): void {
    if (this.enabled && caller.name !== owner) {
      throw new BoxrunError('FORBIDDEN', `${what} belongs to another caller`);
    }
  }
}
