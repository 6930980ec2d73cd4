import type Docker from 'dockerode';
import type { BoxrunConfig } from '../../config/config.js';
import { type IsolationTier, VM_TIER_SETUP_COMMAND } from '../../core/isolation.js';
import type { IsolationLevel } from '../../core/result.js';
import { commandExists } from '../daemon/background-daemon.js';
import { connectEngine } from './engine.js';

/** Sandboxes on the vm tier's runtime (gVisor) have a kernel of their own: level `vm`. */
export function dockerIsolationLevel(config: BoxrunConfig): IsolationLevel {
  return config.docker.runtime !== undefined && config.docker.runtime === config.isolation.vmRuntime
    ? 'vm'
    : 'container';
}

/** The same config with sandboxes on the vm tier's OCI runtime. */
export function vmTierConfig(config: BoxrunConfig): BoxrunConfig {
  return { ...config, docker: { ...config.docker, runtime: config.isolation.vmRuntime } };
}

export interface TierProbe {
  tier: IsolationTier;
  available: boolean;
  /** Where it runs when available; why not (and the command that fixes it) otherwise. */
  reason: string;
}

/** The OCI runtimes the engine has registered (`docker info` Runtimes). */
export async function engineRuntimes(docker: Docker): Promise<string[]> {
  const info = (await docker.info()) as { Runtimes?: Record<string, unknown> };
  return Object.keys(info.Runtimes ?? {});
}

/**
 * Which tiers this engine offers, and why not: `container` needs the engine; `vm` needs the vm
 * runtime registered with it (runsc installed is not enough: dockerd only knows what its
 * daemon.json lists).
 */
export async function probeIsolationTiers(config: BoxrunConfig, docker?: Docker): Promise<TierProbe[]> {
  let runtimes: string[];
  let where: string;
  try {
    const client = docker ?? (await connectEngine(config.docker.host)).docker;
    runtimes = await engineRuntimes(client);
    where = docker ? 'the engine' : `the engine at ${(await connectEngine(config.docker.host)).endpoint.url}`;
  } catch (error) {
    const why = `no engine: ${(error as Error).message.split('\n')[0]}`;
    return [
      { tier: 'container', available: false, reason: why },
      { tier: 'vm', available: false, reason: why },
    ];
  }
  const runtime = config.isolation.vmRuntime;
  const vm: TierProbe = runtimes.includes(runtime)
    ? { tier: 'vm', available: true, reason: `${runtime} (gVisor) registered with ${where}` }
    : {
        tier: 'vm',
        available: false,
        reason: `${runtime} is ${commandExists(runtime) ? 'installed but not registered with' : 'not installed for'} ${where} (its runtimes: ${runtimes.join(', ')}); run \`${VM_TIER_SETUP_COMMAND}\``,
      };
  const container: TierProbe =
    dockerIsolationLevel(config) === 'vm'
      ? {
          tier: 'container',
          available: true,
          reason: `runs on ${runtime} (docker.runtime), which is stronger`,
        }
      : {
          tier: 'container',
          available: true,
          reason: `${config.docker.runtime ?? 'the default runtime'} on ${where}`,
        };
  return [container, vm];
}
