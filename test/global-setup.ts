import type Docker from 'dockerode';
import { connectEngine } from '../src/backends/docker/engine.js';
import { LABEL_MANAGED } from '../src/backends/docker/labels.js';
import { loadConfig } from '../src/config/config.js';

/** Integration tests need a real engine; scripts/test.sh starts one and builds the images first. */
export async function setup(): Promise<void> {
  await connectEngine(loadConfig().docker.host);
}

/**
 * After the whole suite, no sandbox this run created may be left on the engine. Every container
 * the suite's executors and spawned services create carries the run label (vitest.config.ts), so a
 * `boxrun serve` running next to the suite on the same engine is not counted.
 */
export async function teardown(): Promise<void> {
  if (process.env.BOXRUN_ASSERT_NO_LEFTOVERS !== '1') return;
  const config = loadConfig();
  const { docker } = await connectEngine(config.docker.host);
  const label = [`${LABEL_MANAGED}=true`, ...(config.docker.runLabel ? [config.docker.runLabel] : [])];
  const deadline = Date.now() + 15_000;
  let left: Docker.ContainerInfo[] = [];
  do {
    left = await docker.listContainers({ all: true, filters: { label } });
    if (left.length === 0) return;
    await new Promise((r) => setTimeout(r, 500));
  } while (Date.now() < deadline);
  throw new Error(
    `${left.length} containers of this test run (${label.join(', ')}) were left behind: ${left
      .map((c) => `${c.Id.slice(0, 12)} ${c.State} ${c.Labels['boxrun.execution'] ?? ''} ${c.Image}`)
      .join(', ')}`,
  );
}
