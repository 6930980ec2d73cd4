import { Command } from 'commander';
import { ensureEngine } from '../../backends/docker/engine-setup.js';
import { setupGvisor } from '../../backends/docker/gvisor-setup.js';
import { BASE_IMAGE, ImageManager, SANDBOX_IMAGE } from '../../backends/docker/image-manager.js';
import { ensurePodman, transferImages } from '../../backends/podman/podman-setup.js';
import { type BoxrunConfig, loadConfig } from '../../config/config.js';
import { defaultRegistry } from '../../runtimes/registry.js';
import { UsageError } from '../exit-codes.js';
import { reportErrors, say } from '../with-executor.js';

function runtimeNames(list: string | undefined): string[] {
  return list ? list.split(',').map((s) => defaultRegistry.get(s.trim()).name) : defaultRegistry.names();
}

/**
 * Podman: images are built by the Docker engine when one answers and copied over the APIs
 * (`docker save | podman load`); without Docker they are built by Podman itself.
 */
async function setupPodman(cfg: BoxrunConfig, runtimes: string | undefined, force: boolean): Promise<void> {
  const podman = await ensurePodman({ host: cfg.podman.host, stateDir: cfg.stateDir, progress: say });
  const names = runtimeNames(runtimes);
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

/** `boxrun setup`: the engine installed/started when needed and the runtime images built (idempotent). */
export function setupCommand(): Command {
  return new Command('setup')
    .description('install/start the engine when needed and build the runtime images (idempotent)')
    .option('-r, --runtimes <list>', 'comma-separated runtimes to build (default: all)')
    .option('--force', 'rebuild images even when current')
    .option('--engine <engine>', 'docker (default), or podman: also start Podman and copy the images into it')
    .option('--isolation <tier>', 'gvisor: also install runsc, register it with the engine and verify it')
    .action((opts) =>
      reportErrors(async () => {
        const started = Date.now();
        if (opts.engine && opts.engine !== 'docker' && opts.engine !== 'podman')
          throw new UsageError(`--engine must be docker or podman, not ${opts.engine}`);
        if (opts.isolation && opts.isolation !== 'gvisor')
          throw new UsageError(`--isolation must be gvisor, not ${opts.isolation}`);
        const cfg = loadConfig();
        if (opts.engine === 'podman') {
          await setupPodman(cfg, opts.runtimes ? String(opts.runtimes) : undefined, !!opts.force);
          say(`setup done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
          return;
        }
        const engine = await ensureEngine({
          ...(cfg.docker.host ? { host: cfg.docker.host } : {}),
          stateDir: cfg.stateDir,
          progress: say,
          daemonConfig: cfg.isolation.daemonConfig,
        });
        const images = new ImageManager(engine.docker, defaultRegistry);
        const base = await images.ensureBaseImage(say, { stateDir: cfg.stateDir });
        say(`base image: ${base}`);
        const built = await images.build(
          runtimeNames(opts.runtimes ? String(opts.runtimes) : undefined),
          say,
          {
            force: !!opts.force,
          },
        );
        // Custom images get the supervisor from this volume: seeded here, not racing first executions.
        say(`supervisor volume: ${await images.supervisorVolume()}`);
        if (opts.isolation === 'gvisor' || cfg.isolation.setupGvisor) {
          await setupGvisor({ config: cfg, engine, progress: say });
        }
        say(
          `setup done in ${((Date.now() - started) / 1000).toFixed(1)} s: ${built.length ? `built ${built.join(', ')}` : 'everything was current'}`,
        );
      }),
    );
}
