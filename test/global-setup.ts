import type Docker from 'dockerode';
import { connectEngine } from '../src/backends/docker/engine.js';
import { LABEL_MANAGED } from '../src/backends/docker/labels.js';
import { loadConfig } from '../src/config/config.js';

/** Integration tests need a real engine; scripts/test.sh starts one and builds the images first. */
export async function setup(): Promise<void> {
  await connectEngine(loadConfig().docker.host);
}

/** After the whole suite, no sandbox may be left on the engine. */
export async function teardown(): Promise<void> {
  // Only where nothing else shares the engine (CI, npm test); parallel local runs would see each other.
  if (process.env.BOXRUN_ASSERT_NO_LEFTOVERS !== '1') return;
  const { docker } = await connectEngine(loadConfig().docker.host);
  const deadline = Date.now() + 15_000;
  let left: Docker.ContainerInfo[] = [];
  do {
    left = await docker.listContainers({ all: true, filters: { label: [`${LABEL_MANAGED}=true`] } });
    if (left.length === 0) return;
    await new Promise((r) => setTimeout(r, 500));
  } while (Date.now() < deadline);
  throw new Error(
    `${left.length} boxrun containers were left behind: ${left.map((c) => `${c.Id.slice(0, 12)} ${c.State}`).join(', ')}`,
  );
}
