import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CustomImageBuilder,
  externalImagesOf,
  imageAllowed,
} from '../../src/backends/docker/custom-image.js';
import type { DockerExecutor } from '../../src/backends/selection/executors.js';
import { exitCodeFor } from '../../src/cli/exit-codes.js';
import { dockerExecutor } from '../helpers.js';

describe('custom images from a Dockerfile', () => {
  let executor: DockerExecutor;
  const built = new Set<string>();
  /** Unique per run, so the first build of each test really builds. */
  const nonce = () => `# ${randomUUID()}`;

  beforeAll(() => {
    // Builds are off by default (config images.allowBuilds); these tests turn them on.
    executor = dockerExecutor({ images: { allowBuilds: true } });
  });
  afterAll(async () => {
    const builder = new CustomImageBuilder((await executor.engine()).docker, {
      allowList: [],
      allowBuilds: true,
      buildTimeoutMs: 1,
      maxContextBytes: 1,
      buildMemoryMb: 64,
    });
    await builder.remove([...built]);
    await executor.close();
  });

  it('builds once with the context files, runs in it with the usual lock-down, and reuses it', async () => {
    const request = {
      dockerfile: [
        'FROM boxrun/base:bookworm',
        nonce(),
        'COPY data.txt /opt/data.txt',
        'RUN ls /sys/class/net > /opt/nets',
      ].join('\n'),
      context: [{ path: 'data.txt', content: 'from the context' }],
      command: [
        'sh',
        '-c',
        'cat /opt/data.txt; echo; cat /opt/nets; id -u; touch /opt/x 2>/dev/null || echo ro',
      ],
    };
    const lines: string[] = [];
    const first = await executor.execute(request, { onBuildLog: (l) => lines.push(l) });
    expect(first).toHaveStatus('ok');
    // The build ran without network: its RUN step saw only loopback.
    expect(first.stdout).toBe('from the context\nlo\n1000\nro\n');
    expect(first.build).toMatchObject({
      cached: false,
      image: expect.stringMatching(/^boxrun\/custom:[0-9a-f]{24}$/),
    });
    expect(first.image).toBe(first.build?.image);
    expect(lines.some((l) => /Step \d+\/\d+ : COPY data.txt/.test(l))).toBe(true);
    expect(first.build?.log).toMatch(/Successfully tagged/);
    built.add(first.build!.image);

    const second = await executor.execute(request, { onBuildLog: (l) => lines.push(`again ${l}`) });
    expect(second).toHaveStatus('ok');
    expect(second.build).toMatchObject({ cached: true, image: first.build?.image, log: '' });
    expect(lines.some((l) => l.startsWith('again'))).toBe(false);
  });

  it('runs a runtime’s compile and run commands in an image built from its runtime image', async () => {
    const r = await executor.execute({
      runtime: 'c',
      dockerfile: ['FROM boxrun/c:12', nonce(), 'RUN echo 42 > /opt/answer'].join('\n'),
      files: [
        {
          path: 'main.c',
          content:
            '#include <stdio.h>\nint main(){FILE*f=fopen("/opt/answer","r");int x;fscanf(f,"%d",&x);printf("%d\\n",x+1);}',
        },
      ],
    });
    expect(r.compile).toHaveStatus('ok');
    expect(r.stdout).toBe('43\n');
    built.add(r.build!.image);
  });

  it('returns a failed build as build_error with the log, without running anything', async () => {
    const r = await executor.execute({
      dockerfile: ['FROM boxrun/base:bookworm', nonce(), 'RUN echo about to fail && exit 7'].join('\n'),
      command: ['echo', 'never'],
    });
    expect(r).toHaveStatus('build_error');
    expect(r.stdout).toBe('');
    expect(r.message).toMatch(/returned a non-zero code: 7/);
    expect(r.build?.error).toMatch(/non-zero code: 7/);
    expect(r.build?.log).toMatch(/about to fail/);
    expect(exitCodeFor(r)).toBe(1);
  });

  it('stops a build at the build time limit', async () => {
    const limited = dockerExecutor({ images: { buildTimeoutMs: 3000, allowBuilds: true } });
    try {
      const started = Date.now();
      const r = await limited.execute({
        dockerfile: ['FROM boxrun/base:bookworm', nonce(), 'RUN sleep 60'].join('\n'),
        command: ['true'],
      });
      expect(r).toHaveStatus('build_error');
      expect(r.build?.error).toMatch(/timed out after 3000 ms/);
      // Stopped at its 3 s limit, not after the 60 s sleep (the rest is engine time under load).
      expect(Date.now() - started).toBeLessThan(55_000);
    } finally {
      await limited.close();
    }
  });

  it('refuses a context over the size limit and builds when builds are disabled', async () => {
    const small = dockerExecutor({ images: { maxContextBytes: 1000, allowBuilds: true } });
    const off = dockerExecutor({ images: { allowBuilds: false } });
    try {
      await expect(
        small.execute({
          dockerfile: 'FROM boxrun/base:bookworm',
          context: [{ path: 'big', content: 'x'.repeat(2000) }],
          command: ['true'],
        }),
      ).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
      await expect(
        off.execute({ dockerfile: 'FROM boxrun/base:bookworm', command: ['true'] }),
      ).rejects.toMatchObject({ code: 'FORBIDDEN' });
    } finally {
      await small.close();
      await off.close();
    }
  });

  it('validates the request: dockerfile with image, without command or runtime, context alone', async () => {
    for (const bad of [
      { dockerfile: 'FROM x', image: 'x', command: ['true'] },
      { dockerfile: 'FROM x' },
      { runtime: 'bash', files: [{ path: 'a.sh', content: '' }], context: [{ path: 'a', content: '' }] },
    ]) {
      await expect(executor.execute(bad)).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
    }
  });
});

describe('image allow-list', () => {
  it('matches globs, with the implicit :latest', () => {
    expect(imageAllowed('boxrun/base:bookworm', ['boxrun/*'])).toBe(true);
    expect(imageAllowed('python', ['python:latest'])).toBe(true);
    expect(imageAllowed('evil/boxrun/x', ['boxrun/*'])).toBe(false);
    expect(imageAllowed('anything', [])).toBe(true);
  });

  it('finds the external images of a Dockerfile, not its stages', () => {
    expect(
      externalImagesOf(
        'FROM boxrun/c:12 AS build\nRUN x\nFROM scratch\nCOPY --from=build /a /a\nCOPY --from=other/img:1 /b /b\nfrom --platform=linux/amd64 base:2',
      ),
    ).toEqual(['boxrun/c:12', 'other/img:1', 'base:2']);
  });

  it('refuses an image or a base image not on the list with FORBIDDEN and a clear message', async () => {
    const executor = dockerExecutor({
      images: { allowList: ['boxrun/base:*', 'boxrun/python:*'], allowBuilds: true },
    });
    try {
      const ok = await executor.execute({ image: 'boxrun/base:bookworm', command: ['echo', 'allowed'] });
      expect(ok.stdout).toBe('allowed\n');
      await expect(executor.execute({ image: 'boxrun/go:1.19', command: ['true'] })).rejects.toMatchObject({
        code: 'FORBIDDEN',
        message: expect.stringMatching(/boxrun\/go:1\.19 is not on the image allow-list/),
      });
      await expect(
        executor.execute({
          dockerfile: 'FROM boxrun/base:bookworm AS a\nFROM boxrun/rust:1.63',
          command: ['true'],
        }),
      ).rejects.toMatchObject({ code: 'FORBIDDEN', message: expect.stringMatching(/boxrun\/rust:1\.63/) });
      await expect(
        executor.execute({ dockerfile: 'ARG B=boxrun/base:bookworm\nFROM $B', command: ['true'] }),
      ).rejects.toMatchObject({ code: 'FORBIDDEN' });
    } finally {
      await executor.close();
    }
  });
});
