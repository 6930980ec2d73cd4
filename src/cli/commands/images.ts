import { writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { CustomImageBuilder, checkImageAllowed } from '../../backends/docker/custom-image.js';
import { ImageManager } from '../../backends/docker/image-manager.js';
import { lockImages } from '../../hygiene/image-lock.js';
import { scanImages } from '../../hygiene/image-scan.js';
import { ImageUsageLog } from '../../hygiene/image-usage-log.js';
import { pruneToBudget } from '../../hygiene/prune.js';
import { defaultRegistry } from '../../runtimes/registry.js';
import { EXIT_UNAVAILABLE } from '../exit-codes.js';
import { DOCKER_ENGINE_ONLY, reportErrors, say, withExecutor } from '../with-executor.js';

const withImages = (fn: (images: ImageManager) => Promise<void>) =>
  withExecutor(DOCKER_ENGINE_ONLY, async ({ engines }) =>
    fn(new ImageManager((await engines.engine()).docker, defaultRegistry)),
  );

/** `boxrun images …`: the runtime images on the Docker engine. */
export function imagesCommand(): Command {
  const images = new Command('images').description('manage runtime images');
  images
    .command('list')
    .description('list boxrun images and whether each runtime image is current')
    .action(() =>
      withImages(async (manager) => {
        for (const s of await manager.status()) {
          console.log(
            `${s.runtime.padEnd(11)} ${s.image.padEnd(24)} ${s.present ? (s.current ? 'current' : 'out of date') : 'missing'}`,
          );
        }
      }),
    );
  images
    .command('build')
    .description('build runtime images (all when none named); skips current ones unless --force')
    .argument('[runtimes...]')
    .option('--force', 'rebuild even when current')
    .action((names: string[], opts) =>
      withImages(async (manager) => {
        const list = names.length ? names.map((n) => defaultRegistry.get(n).name) : defaultRegistry.names();
        await manager.build(list, say, { force: !!opts.force });
      }),
    );
  images
    .command('rm')
    .description('remove runtime images (by runtime name) or custom images (boxrun/custom:<hash>)')
    .argument('<runtimes...>')
    .action((names: string[]) =>
      withImages(async (manager) => {
        const removed = await manager.remove(names);
        say(removed.length ? `removed ${removed.join(', ')}` : 'nothing to remove');
      }),
    );
  images
    .command('pull')
    .description('pull an image from its registry, with progress (custom images for requests with `image`)')
    .argument('<image>')
    .action((image: string) =>
      withExecutor(DOCKER_ENGINE_ONLY, async ({ engines }, cfg) => {
        if (cfg.images.allowList.length > 0) checkImageAllowed(image, cfg.images.allowList);
        await new ImageManager((await engines.engine()).docker, defaultRegistry).pull(image, say);
        say(`pulled ${image}`);
      }),
    );
  images
    .command('prune')
    .description(
      'remove old, untagged boxrun images (with --custom: every unused image built from a request)',
    )
    .option('--custom', "also remove images built from requests' Dockerfiles (boxrun/custom:*) not in use")
    .action((opts) =>
      withExecutor(DOCKER_ENGINE_ONLY, async ({ engines }, cfg) => {
        const { docker } = await engines.engine();
        if (opts.custom) {
          const removed = await new CustomImageBuilder(docker, cfg.images).remove();
          say(`removed ${removed.length} custom image(s)${removed.length ? `: ${removed.join(', ')}` : ''}`);
        }
        say(`removed ${await new ImageManager(docker, defaultRegistry).prune()} old image(s)`);
      }),
    );
  images
    .command('lock')
    .description('pin every runtime image by id in runtimes/images.lock.json (after setup)')
    .option('--file <path>', 'lock file', 'runtimes/images.lock.json')
    .action((opts) =>
      withExecutor(DOCKER_ENGINE_ONLY, async ({ engines }) => {
        const lock = await lockImages((await engines.engine()).docker, defaultRegistry);
        writeFileSync(opts.file, `${JSON.stringify(lock, null, 2)}\n`);
        say(`locked ${Object.keys(lock.images).length} runtime images in ${opts.file}`);
      }),
    );
  images
    .command('scan')
    .description('scan runtime images for known vulnerabilities with Trivy, when it is installed')
    .argument('[runtimes...]')
    .action((names: string[]) =>
      reportErrors(async () => {
        const list = (names.length ? names : defaultRegistry.names()).map(
          (n) => defaultRegistry.get(n).image,
        );
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
      }),
    );
  images
    .command('hygiene')
    .description(
      'prune unused boxrun images, build cache and cache volumes beyond hygiene.budget_bytes (LRU first)',
    )
    .option('--dry-run', 'only say what would be removed')
    .action((opts) =>
      withExecutor(DOCKER_ENGINE_ONLY, async ({ engines }, cfg) => {
        const report = await pruneToBudget((await engines.engine()).docker, {
          budgetBytes: cfg.hygiene.budgetBytes,
          usage: new ImageUsageLog(cfg.stateDir),
          dryRun: !!opts.dryRun,
        });
        console.log(JSON.stringify(report, null, 2));
      }),
    );
  return images;
}
