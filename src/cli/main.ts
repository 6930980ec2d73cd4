#!/usr/bin/env node
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { CustomImageBuilder, checkImageAllowed } from '../backends/docker/custom-image.js';
import { DockerExecutor } from '../backends/docker/docker-executor.js';
import { ensureEngine } from '../backends/docker/engine-setup.js';
import { BASE_IMAGE, ImageManager, SANDBOX_IMAGE } from '../backends/docker/image-manager.js';
import { ensurePodman, transferImages } from '../backends/podman/podman-setup.js';
import { backendChain, probeAllBackends } from '../backends/selection/select-executor.js';
import { type BoxrunConfig, loadConfig } from '../config/config.js';
import { isBoxrunError } from '../core/errors.js';
import type { ExecutionRequestInput } from '../core/request.js';
import { ImageUsageLog, lockImages, pruneToBudget, scanImages } from '../hygiene/disk-hygiene.js';
import { mcpCommand } from '../mcp/command.js';
import { defaultRegistry } from '../runtimes/registry.js';
import { EXIT_INTERNAL, EXIT_UNAVAILABLE, EXIT_USAGE, exitCodeFor, verdictLine } from './exit-codes.js';
import { registerServeCommand } from './serve.js';
import { registerTestCommand } from './test-command.js';

const say = (line: string) => process.stderr.write(`${line}\n`);

function intArg(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

function numArg(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number');
  return n;
}

function config(): BoxrunConfig {
  return loadConfig();
}

/** Our own faults end the CLI with a clear sentence and a code that says which kind. */
function failWith(error: unknown): never {
  if (isBoxrunError(error)) {
    say(`boxrun: ${error.message}`);
    const code =
      error.code === 'INVALID_REQUEST' ||
      error.code === 'UNKNOWN_RUNTIME' ||
      error.code === 'CONFIG_INVALID' ||
      error.code === 'FORBIDDEN' ||
      error.code === 'PAYLOAD_TOO_LARGE'
        ? EXIT_USAGE
        : error.code === 'ENGINE_UNAVAILABLE' || error.code === 'IMAGE_NOT_FOUND'
          ? EXIT_UNAVAILABLE
          : EXIT_INTERNAL;
    process.exit(code);
  }
  say(`boxrun: internal error: ${(error as Error)?.stack ?? String(error)}`);
  process.exit(EXIT_INTERNAL);
}

function readInput(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    say(
      `boxrun: cannot read ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
    process.exit(EXIT_USAGE);
  }
}

const program = new Command()
  .name('boxrun')
  .description('Run untrusted code in a locked-down container and report exactly what happened.')
  .version('0.1.0')
  .showHelpAfterError();

program
  .command('run')
  .description('run a source file in a sandbox')
  .argument('<file>', 'source file; its extension picks the runtime unless --lang is given')
  .argument('[args...]', 'arguments for the program (after --)')
  .option('-l, --lang <runtime>', `runtime: ${defaultRegistry.names().join(', ')}`)
  .option('-f, --file <path...>', 'extra files to put beside the source')
  .option('--stdin <file>', 'file to feed to the program on stdin ("-" for this stdin)')
  .option('--timeout-ms <n>', 'wall-clock limit', intArg)
  .option('--cpu-ms <n>', 'CPU-time limit', intArg)
  .option('--memory-mb <n>', 'memory limit (MiB)', intArg)
  .option('--cpus <n>', 'CPU cores', numArg)
  .option('-o, --output <path...>', 'files to copy out of the sandbox (relative paths, globs)')
  .option('--json', 'print exactly one JSON ExecutionResult on stdout')
  .action(async (file: string, args: string[], opts) => {
    const runtime = opts.lang ?? defaultRegistry.forFile(file)?.name;
    if (!runtime) {
      say(
        `boxrun: cannot tell the runtime of ${file} from its extension; pass --lang (${defaultRegistry.names().join(', ')})`,
      );
      process.exit(EXIT_USAGE);
    }
    const files: NonNullable<ExecutionRequestInput['files']> = [
      {
        path: basename(file),
        content: readInput(file, 'source file').toString('base64'),
        encoding: 'base64',
      },
    ];
    for (const extra of (opts.file as string[] | undefined) ?? []) {
      files.push({
        path: basename(extra),
        content: readInput(extra, 'file').toString('base64'),
        encoding: 'base64',
      });
    }
    const stdin = opts.stdin
      ? readInput(opts.stdin === '-' ? '/dev/stdin' : opts.stdin, 'stdin file')
      : undefined;
    const request: ExecutionRequestInput = {
      runtime,
      files,
      argv: args,
      ...(stdin ? { stdin: stdin.toString('base64'), stdinEncoding: 'base64' as const } : {}),
      outputPaths: opts.output ?? [],
      limits: {
        ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
        ...(opts.cpuMs ? { cpuTimeMs: opts.cpuMs } : {}),
        ...(opts.memoryMb ? { memoryMb: opts.memoryMb } : {}),
        ...(opts.cpus ? { cpus: opts.cpus } : {}),
      },
    };
    const executor = new DockerExecutor({ config: config() });
    try {
      const result = await executor.execute(request, {
        ...(opts.json
          ? {}
          : {
              onOutput: (stream: 'stdout' | 'stderr', chunk: Buffer) =>
                (stream === 'stdout' ? process.stdout : process.stderr).write(chunk),
            }),
      });
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(result)}\n`);
        process.exitCode = 0;
      } else {
        if (result.compile && result.status === 'compile_error') {
          process.stderr.write(result.compile.stdout);
          process.stderr.write(result.compile.stderr);
        }
        say(verdictLine(result));
        process.exitCode = exitCodeFor(result);
      }
    } catch (error) {
      failWith(error);
    } finally {
      await executor.close();
    }
  });

program
  .command('setup')
  .description('install/start the engine when needed and build the runtime images (idempotent)')
  .option('-r, --runtimes <list>', 'comma-separated runtimes to build (default: all)')
  .option('--force', 'rebuild images even when current')
  .option('--engine <engine>', 'docker (default), or podman: also start Podman and copy the images into it')
  .action(async (opts) => {
    const started = Date.now();
    if (opts.engine && opts.engine !== 'docker' && opts.engine !== 'podman') {
      say(`boxrun: --engine must be docker or podman, not ${opts.engine}`);
      process.exit(EXIT_USAGE);
    }
    try {
      const cfg = config();
      if (opts.engine === 'podman') {
        await setupPodman(cfg, opts.runtimes ? String(opts.runtimes) : undefined, !!opts.force);
        say(`setup done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
        return;
      }
      const engine = await ensureEngine({
        ...(cfg.docker.host ? { host: cfg.docker.host } : {}),
        stateDir: cfg.stateDir,
        progress: say,
      });
      const images = new ImageManager(engine.docker, defaultRegistry);
      const base = await images.ensureBaseImage(say, { stateDir: cfg.stateDir });
      say(`base image: ${base}`);
      const names = opts.runtimes
        ? String(opts.runtimes)
            .split(',')
            .map((s) => defaultRegistry.get(s.trim()).name)
        : defaultRegistry.names();
      const built = await images.build(names, say, { force: !!opts.force });
      // Custom images get the supervisor from this volume: seeded here, not racing first executions.
      say(`supervisor volume: ${await images.supervisorVolume()}`);
      say(
        `setup done in ${((Date.now() - started) / 1000).toFixed(1)} s: ${built.length ? `built ${built.join(', ')}` : 'everything was current'}`,
      );
    } catch (error) {
      failWith(error);
    }
  });

/**
 * Podman: images are built by the Docker engine when one answers and copied over the APIs
 * (`docker save | podman load`); without Docker they are built by Podman itself.
 */
async function setupPodman(cfg: BoxrunConfig, runtimes: string | undefined, force: boolean): Promise<void> {
  const podman = await ensurePodman({ host: cfg.podman.host, stateDir: cfg.stateDir, progress: say });
  const names = runtimes
    ? runtimes.split(',').map((s) => defaultRegistry.get(s.trim()).name)
    : defaultRegistry.names();
  let docker: Awaited<ReturnType<typeof ensureEngine>> | null = null;
  try {
    docker = await ensureEngine({
      ...(cfg.docker.host ? { host: cfg.docker.host } : {}),
      stateDir: cfg.stateDir,
      progress: say,
    });
  } catch (error) {
    say(
      `podman: no Docker engine to build with (${(error as Error).message.split('\n')[0]}); building in Podman`,
    );
  }
  const builder = new ImageManager((docker ?? podman).docker, defaultRegistry);
  say(`base image: ${await builder.ensureBaseImage(say, { stateDir: cfg.stateDir })}`);
  await builder.build(names, say, { force });
  if (docker) {
    const images = [BASE_IMAGE, SANDBOX_IMAGE, ...names.map((n) => defaultRegistry.get(n).image)];
    await transferImages(docker.docker, podman.docker, images, say);
  }
}

/** The warm pool's settings in one line (doctor); the pool itself runs in the service. */
function describePool(pool: BoxrunConfig['pool']): string {
  const sized = Object.entries(pool.sizes).filter(([, n]) => n > 0);
  if (pool.size === 0 && sized.length === 0)
    return 'off (pool.size = 0: every execution starts its container)';
  const which = pool.runtimes.length > 0 ? pool.runtimes.join(', ') : 'every runtime';
  const overrides = sized.length > 0 ? `, sizes ${sized.map(([r, n]) => `${r}=${n}`).join(' ')}` : '';
  return `${pool.size} warm per runtime (${which}${pool.compile ? ', compile steps too' : ''}${overrides}), max ${pool.maxTotal}, idle TTL ${pool.idleTtlSeconds} s, ${pool.replenishConcurrency} started at once`;
}

program
  .command('doctor')
  .description('check the engine, its limits support and the runtime images')
  .option('--json', 'print the report as JSON')
  .action(async (opts) => {
    const cfg = config();
    const executor = new DockerExecutor({ config: cfg, reaper: false });
    const health = await executor.healthCheck();
    const report: Record<string, unknown> = { ...health, pool: cfg.pool };
    const problems = [...health.problems];
    if (health.engine.reachable) {
      try {
        const caps = await executor.capabilities();
        report.capabilities = caps;
        if (!caps.supportsMemoryLimit)
          problems.push('the engine cannot enforce memory limits (cgroup memory controller missing)');
        if (!caps.supportsCpuLimit) problems.push('the engine cannot enforce CPU limits (CFS quota missing)');
        if (!caps.supportsPidsLimit)
          problems.push('the engine cannot enforce process limits (pids cgroup missing)');
      } catch (error) {
        problems.push((error as Error).message);
      }
    }
    // Which backends this host offers and which one the config picks (docs/backends.md).
    const backends = await probeAllBackends(cfg);
    const chain = backendChain(cfg);
    const chosen = chain.find((t) => backends.find((b) => b.type === t)?.available) ?? null;
    report.executor = { configured: chain, chosen, backends };
    if (!chosen) problems.push(`no executor of the configured chain (${chain.join(' -> ')}) is available`);
    else if (chosen !== chain[0])
      problems.push(`executor: ${chain[0]} is unavailable; would fall back to ${chosen}`);
    await executor.close();
    if (opts.json) {
      process.stdout.write(
        `${JSON.stringify({ ...report, problems, ok: problems.length === 0 }, null, 2)}\n`,
      );
    } else {
      const caps = report.capabilities as
        | {
            engine?: Record<string, string>;
            supportsMemoryLimit?: boolean;
            supportsCpuLimit?: boolean;
            supportsSwapLimit?: boolean;
            supportsPidsLimit?: boolean;
          }
        | undefined;
      console.log(
        `engine:    ${health.engine.reachable ? `reachable at ${health.engine.endpoint}` : `NOT reachable (${health.engine.error})`}`,
      );
      if (caps?.engine) {
        console.log(
          `version:   ${caps.engine.version} (API ${caps.engine.apiVersion}), cgroup v${caps.engine.cgroupVersion}, storage ${caps.engine.storageDriver}, runtime ${caps.engine.runtime}`,
        );
        console.log(
          `limits:    memory ${caps.supportsMemoryLimit ? 'yes' : 'NO'}, swap=memory ${caps.supportsSwapLimit ? 'yes' : 'no (swap not limited)'}, cpu ${caps.supportsCpuLimit ? 'yes' : 'NO'}, pids ${caps.supportsPidsLimit ? 'yes' : 'NO'}, read-only rootfs yes, network none yes`,
        );
      }
      console.log(`pool:      ${describePool(cfg.pool)}`);
      for (const b of backends) {
        console.log(
          `executor:  ${b.type.padEnd(10)} ${b.available ? 'available  ' : 'unavailable'} isolation ${b.isolationLevel.padEnd(9)} ${b.reason ?? ''}`,
        );
      }
      console.log(`chosen:    ${chosen ?? 'NONE'} (configured: ${chain.join(' -> ')})`);
      for (const img of health.images) {
        console.log(
          `image:     ${img.runtime.padEnd(11)} ${img.image.padEnd(24)} ${img.present ? (img.current ? 'current' : 'OUT OF DATE') : 'MISSING'}`,
        );
      }
      for (const p of problems) console.log(`problem:   ${p}`);
      console.log(
        problems.length === 0
          ? 'ok: boxrun is ready'
          : `not ready: ${problems.length} problem(s); 'boxrun setup' fixes most of them`,
      );
    }
    process.exitCode = problems.length === 0 ? 0 : 1;
  });

const images = program.command('images').description('manage runtime images');
images
  .command('list')
  .description('list boxrun images and whether each runtime image is current')
  .action(async () => {
    const executor = new DockerExecutor({ config: config(), reaper: false });
    try {
      const manager = await executor.imageManager();
      for (const s of await manager.status()) {
        console.log(
          `${s.runtime.padEnd(11)} ${s.image.padEnd(24)} ${s.present ? (s.current ? 'current' : 'out of date') : 'missing'}`,
        );
      }
    } catch (error) {
      failWith(error);
    } finally {
      await executor.close();
    }
  });
images
  .command('build')
  .description('build runtime images (all when none named); skips current ones unless --force')
  .argument('[runtimes...]')
  .option('--force', 'rebuild even when current')
  .action(async (names: string[], opts) => {
    const executor = new DockerExecutor({ config: config(), reaper: false });
    try {
      const manager = await executor.imageManager();
      const list = names.length ? names.map((n) => defaultRegistry.get(n).name) : defaultRegistry.names();
      await manager.build(list, say, { force: !!opts.force });
    } catch (error) {
      failWith(error);
    } finally {
      await executor.close();
    }
  });
images
  .command('rm')
  .description('remove runtime images (by runtime name) or custom images (boxrun/custom:<hash>)')
  .argument('<runtimes...>')
  .action(async (names: string[]) => {
    const executor = new DockerExecutor({ config: config(), reaper: false });
    try {
      const removed = await (await executor.imageManager()).remove(names);
      say(removed.length ? `removed ${removed.join(', ')}` : 'nothing to remove');
    } catch (error) {
      failWith(error);
    } finally {
      await executor.close();
    }
  });
images
  .command('pull')
  .description('pull an image from its registry, with progress (custom images for requests with `image`)')
  .argument('<image>')
  .action(async (image: string) => {
    const executor = new DockerExecutor({ config: config(), reaper: false });
    try {
      const cfg = config();
      if (cfg.images.allowList.length > 0) checkImageAllowed(image, cfg.images.allowList);
      await (await executor.imageManager()).pull(image, say);
      say(`pulled ${image}`);
    } catch (error) {
      failWith(error);
    } finally {
      await executor.close();
    }
  });
images
  .command('prune')
  .description('remove old, untagged boxrun images (with --custom: every unused image built from a request)')
  .option('--custom', "also remove images built from requests' Dockerfiles (boxrun/custom:*) not in use")
  .action(async (opts) => {
    const executor = new DockerExecutor({ config: config(), reaper: false });
    try {
      if (opts.custom) {
        const builder = new CustomImageBuilder((await executor.engine()).docker, config().images);
        const removed = await builder.remove();
        say(`removed ${removed.length} custom image(s)${removed.length ? `: ${removed.join(', ')}` : ''}`);
      }
      say(`removed ${await (await executor.imageManager()).prune()} old image(s)`);
    } catch (error) {
      failWith(error);
    } finally {
      await executor.close();
    }
  });

images
  .command('lock')
  .description('pin every runtime image by id in runtimes/images.lock.json (after setup)')
  .option('--file <path>', 'lock file', 'runtimes/images.lock.json')
  .action(async (opts) => {
    const executor = new DockerExecutor({ config: config(), reaper: false });
    try {
      const { docker } = await executor.engine();
      const lock = await lockImages(docker, defaultRegistry);
      writeFileSync(opts.file, `${JSON.stringify(lock, null, 2)}\n`);
      say(`locked ${Object.keys(lock.images).length} runtime images in ${opts.file}`);
    } catch (error) {
      failWith(error);
    } finally {
      await executor.close();
    }
  });
images
  .command('scan')
  .description('scan runtime images for known vulnerabilities with Trivy, when it is installed')
  .argument('[runtimes...]')
  .action(async (names: string[]) => {
    const list = (names.length ? names : defaultRegistry.names()).map((n) => defaultRegistry.get(n).image);
    const result = await scanImages(list);
    if (!result.available) {
      say(`boxrun: ${result.message}`);
      process.exitCode = EXIT_UNAVAILABLE;
      return;
    }
    for (const r of result.reports) {
      console.log(`== ${r.image}: ${r.ok ? 'no HIGH/CRITICAL findings' : 'FINDINGS'}`);
      if (!r.ok) console.log(r.output);
    }
    process.exitCode = result.reports.every((r) => r.ok) ? 0 : 1;
  });
images
  .command('hygiene')
  .description(
    'prune unused boxrun images, build cache and cache volumes beyond hygiene.budget_bytes (LRU first)',
  )
  .option('--dry-run', 'only say what would be removed')
  .action(async (opts) => {
    const cfg = config();
    const executor = new DockerExecutor({ config: cfg, reaper: false });
    try {
      const { docker } = await executor.engine();
      const report = await pruneToBudget(docker, {
        budgetBytes: cfg.hygiene.budgetBytes,
        usage: new ImageUsageLog(cfg.stateDir),
        dryRun: !!opts.dryRun,
      });
      console.log(JSON.stringify(report, null, 2));
    } catch (error) {
      failWith(error);
    } finally {
      await executor.close();
    }
  });

program
  .command('config')
  .description('configuration')
  .command('print')
  .description('print the effective configuration')
  .action(() => {
    try {
      console.log(JSON.stringify(config(), null, 2));
    } catch (error) {
      failWith(error);
    }
  });

program.addCommand(mcpCommand());

registerTestCommand(program);

registerServeCommand(program);

program.parseAsync(process.argv).catch(failWith);
