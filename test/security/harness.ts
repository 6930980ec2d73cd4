import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type Docker from 'dockerode';
import { expect } from 'vitest';
import type { ConnectedEngine } from '../../src/backends/docker/engine.js';
import { dockerIsolationLevel } from '../../src/backends/docker/gvisor.js';
import { LABEL_EXECUTION } from '../../src/backends/docker/labels.js';
import { DockerExecutor } from '../../src/backends/selection/executors.js';
import { type ConfigOverrides, loadConfig } from '../../src/config/config.js';
import type { ExecuteOptions } from '../../src/core/executor.js';
import type { ExecutionRequestInput } from '../../src/core/request.js';
import type { ExecutionResult } from '../../src/core/result.js';
import { hostileFirstExecutor, pooledSandboxesOf } from '../support/hostile-first.js';

/**
 * Shared by the adversarial suite: run an attack, then prove the host and boxrun are fine — the
 * execution's container is gone, none of its processes survive on the host, and a normal program
 * still runs.
 */

/**
 * The executor the security suite attacks: one-shot sandboxes, or with BOXRUN_TEST_SECURITY_RECYCLED=1
 * (scripts/test.sh's recycled pass) a recycling pool where each attack runs in a container that has
 * just served a hostile job and been reset (test/support/hostile-first.ts).
 */
export function securityExecutor(
  overrides: ConfigOverrides = {},
  options: { engine?: ConnectedEngine } = {},
): DockerExecutor {
  if (process.env.BOXRUN_TEST_SECURITY_RECYCLED === '1') return hostileFirstExecutor(overrides, options);
  return new DockerExecutor({
    config: loadConfig({ overrides }),
    ...(options.engine ? { engine: options.engine } : {}),
  });
}

/**
 * The suite runs with every sandbox on gVisor (BOXRUN_DOCKER_RUNTIME=runsc; scripts/test.sh does a
 * second pass so). Where gVisor's kernel shows a guarantee differently, a test asserts gVisor's form
 * of it (docs/backends.md, "What differs under gVisor").
 */
export const onGvisor = dockerIsolationLevel(loadConfig()) === 'vm';

/** Source file names per runtime, for one-file attacks. */
export const MAIN_FILE: Record<string, string> = {
  bash: 'main.sh',
  python: 'main.py',
  javascript: 'main.js',
  c: 'main.c',
  cpp: 'main.cpp',
  go: 'main.go',
  java: 'Main.java',
  rust: 'main.rs',
};

export function program(
  runtime: string,
  content: string,
  extra: Partial<ExecutionRequestInput> = {},
): ExecutionRequestInput {
  return { runtime, files: [{ path: MAIN_FILE[runtime] ?? 'main', content }], ...extra };
}

/** Runs an attack under a fresh execution id and returns the result with that id. */
export async function attack(
  executor: DockerExecutor,
  request: ExecutionRequestInput,
  options: ExecuteOptions = {},
): Promise<ExecutionResult & { id: string }> {
  const id = options.id ?? `sec-${randomUUID()}`;
  const result = await executor.execute(request, { ...options, id });
  return { ...result, id };
}

/** Polls until `check` returns true or the time is up; returns the last answer. */
export async function eventually(check: () => Promise<boolean> | boolean, ms = 15_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Containers of one execution (removal is asynchronous after the result, so poll). */
export async function containersOf(docker: Docker, id: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`${LABEL_EXECUTION}=${id}`] } });
}

/**
 * Host processes whose command line contains `marker`. Containers under runc share the host's PID
 * namespace from the host's point of view, so a process that escaped the sandbox's kill would show
 * up here. Only meaningful with a local engine; `hostSeesSandboxProcesses` is the positive control.
 */
export function hostProcessesMatching(marker: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'latin1').replaceAll('\0', ' ');
    } catch {
      continue; // exited while we looked
    }
    if (cmdline.includes(marker)) found.push(Number(entry));
  }
  return found;
}

/**
 * After an attack: the execution's container is removed — or, recycled, was reset and proven clean
 * by its supervisor — no process carrying `marker` is alive on the host, and a normal program runs
 * fine in a new (or reset) sandbox.
 */
export async function expectHostAndBoxrunFine(
  executor: DockerExecutor,
  id: string,
  options: { marker?: string } = {},
): Promise<void> {
  const { docker } = await executor.engine();
  const gone = await eventually(async () => (await containersOf(docker, id)).length === 0);
  expect(gone, `containers of execution ${id} still exist`).toBe(true);
  // A pool sandbox carries the pool's labels, not the execution's: the ones it ran in are known.
  for (const sandbox of pooledSandboxesOf(id)) {
    if (sandbox.end === 'clean') continue; // back in the pool, its reset proven by its supervisor
    const removed = await eventually(() =>
      docker
        .getContainer(sandbox.containerId)
        .inspect()
        .then(
          () => false,
          () => true,
        ),
    );
    expect(removed, `sandbox ${sandbox.containerId} of execution ${id} (${sandbox.end}) still exists`).toBe(
      true,
    );
  }
  if (options.marker) {
    const marker = options.marker;
    const none = await eventually(() => hostProcessesMatching(marker).length === 0, 5000);
    expect(none, `host processes carrying ${marker} survived`).toBe(true);
  }
  const check = await executor.execute(program('bash', 'echo still fine'));
  expect(check).toHaveStatus('ok');
  expect(check.stdout).toBe('still fine\n');
}

/** Parses `key=value` lines a test program printed. */
export function keyValues(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}
