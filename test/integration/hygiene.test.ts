import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectEngine } from '../../src/backends/docker/engine.js';
import { BASE_IMAGE } from '../../src/backends/docker/image-manager.js';
import { loadConfig } from '../../src/config/config.js';
import { diskStatus } from '../../src/hygiene/disk-usage.js';
import { lockImages } from '../../src/hygiene/image-lock.js';
import { scanImages } from '../../src/hygiene/image-scan.js';
import { ImageUsageLog } from '../../src/hygiene/image-usage-log.js';
import { pruneToBudget } from '../../src/hygiene/prune.js';
import { defaultRegistry } from '../../src/runtimes/registry.js';

const config = loadConfig();
const TEST_LABEL = `boxrun.hygiene-test=${process.pid}`;
let docker: Docker;
let stateDir: string;

/** A label-only image on top of the base: its own id, no extra layers, only this test's label. */
async function buildTestImage(tag: string): Promise<void> {
  const tar = pack();
  tar.entry(
    { name: 'Dockerfile' },
    `FROM ${BASE_IMAGE}\nLABEL boxrun.hygiene-test=${process.pid} which=${tag}\n`,
  );
  tar.finalize();
  const stream = await docker.buildImage(tar as unknown as NodeJS.ReadableStream, { t: tag, rm: true });
  await new Promise((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve(null))),
  );
}

beforeAll(async () => {
  ({ docker } = await connectEngine(config.docker.host));
  stateDir = mkdtempSync(join(tmpdir(), 'boxrun-hygiene-'));
});
afterAll(async () => {
  for (const tag of ['boxrun-hygiene-test/in-use:1', 'boxrun-hygiene-test/idle:1'])
    await docker
      .getImage(tag)
      .remove({ force: true })
      .catch(() => {});
  rmSync(stateDir, { recursive: true, force: true });
});

describe('image and disk hygiene', () => {
  it('prunes unused images least recently used first and never one a container uses', async () => {
    await buildTestImage('boxrun-hygiene-test/in-use:1');
    await buildTestImage('boxrun-hygiene-test/idle:1');
    const user = await docker.createContainer({
      Image: 'boxrun-hygiene-test/in-use:1',
      Cmd: ['sleep', '60'],
      Labels: { 'boxrun.managed': 'true', 'boxrun.deadline': String(Date.now() + 120_000) },
      HostConfig: { NetworkMode: 'none' },
    });
    try {
      await user.start();
      const usage = new ImageUsageLog(stateDir);
      usage.recordImageUse('boxrun-hygiene-test/in-use:1', 1);
      usage.recordImageUse('boxrun-hygiene-test/idle:1', 2);
      // A budget of one byte: everything of the test's label that may go, goes.
      const report = await pruneToBudget(docker, {
        budgetBytes: 1,
        usage,
        label: TEST_LABEL,
        buildCache: false,
        volumes: false,
      });
      expect(report.keptInUse).toEqual(['boxrun-hygiene-test/in-use:1']);
      expect(report.removedImages).toEqual(['boxrun-hygiene-test/idle:1']);
      await expect(docker.getImage('boxrun-hygiene-test/in-use:1').inspect()).resolves.toBeTruthy();
      await expect(docker.getImage('boxrun-hygiene-test/idle:1').inspect()).rejects.toMatchObject({
        statusCode: 404,
      });
    } finally {
      await user.remove({ force: true });
    }
  });

  it('reports engine disk use and warns when over budget or low on space', async () => {
    const ok = await diskStatus(docker, { stateDir, budgetBytes: 0, lowSpaceBytes: 0 });
    expect(ok.engine?.totalBytes).toBeGreaterThan(0);
    expect(ok.warnings).toEqual([]);
    const bad = await diskStatus(docker, {
      stateDir,
      budgetBytes: 1,
      lowSpaceBytes: Number.MAX_SAFE_INTEGER,
    });
    expect(bad.overBudget).toBe(true);
    expect(bad.lowSpace).toBe(true);
    expect(bad.warnings.join('\n')).toMatch(/over the budget[\s\S]*low disk space/);
  });

  it('pins every runtime image by id in a lock', async () => {
    const lock = await lockImages(docker, defaultRegistry);
    for (const r of defaultRegistry.names()) expect(lock.images[r]?.id).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('says clearly that no scanner is installed when Trivy is missing', async () => {
    const result = await scanImages(['boxrun/python:3.11'], 'trivy-not-installed-here');
    expect(result.available).toBe(false);
    expect(result.message).toMatch(/no image scanner installed/);
  });
});
