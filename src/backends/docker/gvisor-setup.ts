import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { execaSync } from 'execa';
import type { BoxrunConfig } from '../../config/config.js';
import { BoxrunError } from '../../core/errors.js';
import { VM_TIER_SETUP_COMMAND } from '../../core/isolation.js';
import { planExecution } from '../../runtimes/plan.js';
import { defaultRegistry } from '../../runtimes/registry.js';
import {
  aptInstall,
  commandExists,
  type ProgressFn,
  restartDaemon,
  runningOwnDaemon,
} from '../daemon/background-daemon.js';
import { DockerBackend } from './docker-backend.js';
import type { ConnectedEngine } from './engine.js';
import { DOCKERD_DEFAULT_CONFIG, ownDockerd } from './engine-setup.js';
import { engineRuntimes, vmTierConfig } from './gvisor.js';

/**
 * `--network=none`: Debian's runsc cannot start in the root network namespace otherwise, and
 * sandboxes have no network of their own anyway (the proxy legs are separate containers).
 * Not `--oci-seccomp`: that build's in-sandbox OCI seccomp breaks thread creation (clone3 gets
 * EPERM instead of ENOSYS, so glibc never falls back to clone) even with Docker's default profile.
 * Without it runsc applies its own host-side filter to the sentry; the program's syscalls go to
 * gVisor's kernel, never the host's (docs/backends.md).
 */
export const GVISOR_RUNTIME_ARGS = ['--network=none'];

export interface RuntimeEntry {
  path: string;
  runtimeArgs: string[];
}

/**
 * The engine config with `name` registered, every other key kept as it was. Unreadable JSON is an
 * error (the file is never replaced); `changed` is false when the entry is there already.
 */
export function mergeDaemonConfig(
  existing: string | null,
  name: string,
  entry: RuntimeEntry,
): { text: string; changed: boolean } {
  let parsed: unknown = {};
  if (existing?.trim()) {
    try {
      parsed = JSON.parse(existing);
    } catch (error) {
      throw new BoxrunError(
        'SETUP_FAILED',
        `the engine's daemon.json is not valid JSON (${(error as Error).message}); fix it, then run ${VM_TIER_SETUP_COMMAND} again`,
      );
    }
  }
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(parsed) || (parsed.runtimes !== undefined && !isObject(parsed.runtimes))) {
    throw new BoxrunError(
      'SETUP_FAILED',
      `the engine's daemon.json has no "runtimes" object where one belongs`,
    );
  }
  const runtimes = (parsed.runtimes ?? {}) as Record<string, unknown>;
  if (isDeepStrictEqual(runtimes[name], entry)) return { text: existing ?? '', changed: false };
  return {
    text: `${JSON.stringify({ ...parsed, runtimes: { ...runtimes, [name]: entry } }, null, 2)}\n`,
    changed: true,
  };
}

function runscPath(config: BoxrunConfig, progress: ProgressFn): string {
  const name = config.isolation.vmRuntime;
  if (!commandExists(name)) {
    if (name !== 'runsc' || process.getuid?.() !== 0 || !commandExists('apt-get')) {
      throw new BoxrunError(
        'SETUP_FAILED',
        `${name} is not installed and cannot be installed from here: as root on Debian/Ubuntu run \`apt-get install runsc\` (or see https://gvisor.dev/docs/user_guide/install/), then ${VM_TIER_SETUP_COMMAND} again`,
      );
    }
    const log = `${config.stateDir}/gvisor-apt.log`;
    mkdirSync(config.stateDir, { recursive: true });
    progress(`gvisor: installing Debian package runsc (log: ${log})`);
    aptInstall('runsc', log);
  }
  return execaSync('sh', ['-c', `command -v ${name}`], { reject: false }).stdout.trim();
}

async function waitForRuntime(engine: ConnectedEngine, name: string, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if ((await engineRuntimes(engine.docker)).includes(name)) return true;
    if (Date.now() >= until) return false;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The config file a running dockerd reads: its --config-file, or dockerd's default. */
function configFileOf(args: string[]): string {
  const i = args.indexOf('--config-file');
  return i >= 0 && args[i + 1] ? args[i + 1]! : DOCKERD_DEFAULT_CONFIG;
}

/**
 * Makes the vm tier real: installs runsc when absent (Debian's package), registers it with the
 * engine and proves it by running a sandbox on it. The engine's config is merged, never replaced,
 * and only the dockerd that boxrun setup itself started is reloaded (SIGHUP) or restarted; for any other engine the
 * exact lines to add are in the error. Returns the engine (a new connection after a restart).
 */
export async function setupGvisor(options: {
  config: BoxrunConfig;
  engine: ConnectedEngine;
  progress: ProgressFn;
}): Promise<{ engine: ConnectedEngine; kernel: string }> {
  const { config, progress } = options;
  let engine = options.engine;
  const name = config.isolation.vmRuntime;
  const path = runscPath(config, progress);
  if ((await engineRuntimes(engine.docker)).includes(name)) {
    progress(`gvisor: ${name} is registered with the engine at ${engine.endpoint.url}`);
  } else {
    const own = runningOwnDaemon(ownDockerd(config.stateDir, config.isolation.daemonConfig));
    const ours = own !== null && own.host === config.docker.host;
    const file = ours ? configFileOf(own.args) : config.isolation.daemonConfig;
    const existing = existsSync(file) ? readFileSync(file, 'utf8') : null;
    const merged = mergeDaemonConfig(existing, name, { path, runtimeArgs: GVISOR_RUNTIME_ARGS });
    if (!ours) {
      throw new BoxrunError(
        'SETUP_FAILED',
        `${name} is installed (${path}) but the engine at ${engine.endpoint.url} does not know it, and that engine was not started by boxrun, so its configuration is left alone. Make ${file} read:\n${merged.text}then restart the engine (e.g. \`systemctl restart docker\`) and run \`${VM_TIER_SETUP_COMMAND}\` again.`,
      );
    }
    if (merged.changed) {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, merged.text);
      progress(`gvisor: registered ${name} in ${file} (other settings kept)`);
    }
    // dockerd reloads "runtimes" on SIGHUP without stopping containers; a restart only if it did not.
    progress(`gvisor: asking boxrun's own dockerd (pid ${own.pid}) to reload ${file}`);
    process.kill(own.pid, 'SIGHUP');
    if (!(await waitForRuntime(engine, name, 10_000))) {
      progress(`gvisor: dockerd did not reload its runtimes; restarting it (pid ${own.pid})`);
      engine = await restartDaemon(own, 30_000);
      if (!(await waitForRuntime(engine, name, 0))) {
        throw new BoxrunError(
          'SETUP_FAILED',
          `dockerd restarted but still does not list ${name}; see ${own.logPath}`,
        );
      }
    }
  }
  // One plain step on the backend itself: setup sits below the run flow (src/judge/).
  const vmConfig = vmTierConfig(config);
  const executor = new DockerBackend({ config: vmConfig, engine, reaper: false });
  try {
    const plan = planExecution(
      { runtime: 'bash', files: [{ path: 'main.sh', content: 'cat /proc/version' }] },
      defaultRegistry,
      vmConfig,
    );
    const id = randomUUID();
    await executor.prepare(plan, id, {});
    const { step: r } = await executor.runStep({ id, plan, step: plan.run, options: {}, compiling: false });
    if (r.status !== 'ok' || executor.isolationLevel() !== 'vm') {
      throw new BoxrunError(
        'SETUP_FAILED',
        `a sandbox on ${name} did not run: ${r.status} ${r.message ?? ''} ${r.stderr}`.trim(),
      );
    }
    const kernel = r.stdout.trim();
    progress(`gvisor: verified: a sandbox ran on ${name} and saw its own kernel (${kernel})`);
    return { engine, kernel };
  } finally {
    await executor.close();
  }
}
