import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { serveCommand } from '../../src/cli/commands/serve.js';
import { defaultConfig, loadConfig } from '../../src/config/config.js';
import { clusterContract, repoRoot } from './manifests.js';

/**
 * The deployment files pass the contract's names to boxrun (test/deploy/compose.test.ts,
 * k8s.test.ts); these check that boxrun takes them. They skip, saying so, while the cluster code of
 * issue 15 (config `[cluster]`, `serve --role`) is not on this branch, and hold once it is.
 */

type ClusterConfig = { cluster?: { role?: string; redis?: string } };
const configHasCluster = 'cluster' in defaultConfig({});
const roleOption = serveCommand().options.find((o) => o.long === '--role');

describe('the cluster contract in src/ and the docs', () => {
  it.skipIf(!configHasCluster)(
    'config reads [cluster] role and redis and [store] url from the contract env names',
    () => {
      const env = {
        [clusterContract.env.role]: 'worker',
        [clusterContract.env.redis]: 'redis://redis.internal:6379/0',
        [clusterContract.env.storeUrl]: 'postgres://boxrun:pw@pg.internal:5432/boxrun',
      };
      const config = loadConfig({ env, file: '/dev/null' }) as unknown as ClusterConfig & {
        store: { url: string };
      };
      expect(config.cluster?.role).toBe('worker');
      expect(config.cluster?.redis).toBe('redis://redis.internal:6379/0');
      expect(config.store.url).toBe('postgres://boxrun:pw@pg.internal:5432/boxrun');
      expect((loadConfig({ env: {}, file: '/dev/null' }) as unknown as ClusterConfig).cluster?.role).toBe(
        'all',
      );
      expect(() =>
        loadConfig({ env: { ...env, [clusterContract.env.role]: 'leader' }, file: '/dev/null' }),
      ).toThrow(/cluster\.role/);
    },
  );

  it.skipIf(!roleOption)('`boxrun serve` takes --role api|worker|all', () => {
    expect(roleOption?.required || roleOption?.optional).toBe(true);
    if (roleOption?.argChoices)
      expect([...roleOption.argChoices].sort()).toEqual([...clusterContract.roles].sort());
  });

  it('has the store url the contract names already (store.url, BOXRUN_STORE_URL)', () => {
    const config = loadConfig({
      env: { [clusterContract.env.storeUrl]: 'postgres://a@b/c' },
      file: '/dev/null',
    });
    expect(config.store.url).toBe('postgres://a@b/c');
  });

  it("accepts README's boxrun.toml example (its [cluster] table once the cluster code is in)", () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const example = /## Configuration[\s\S]*?```toml\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(example).toContain('[cluster]');
    const toml = parseToml(example ?? '') as Record<string, unknown> & { cluster?: Record<string, unknown> };
    expect(toml.cluster).toEqual({ role: 'all', redis: expect.stringMatching(/^redis:\/\//) });
    if (!configHasCluster) delete toml.cluster;
    const dir = mkdtempSync(join(tmpdir(), 'boxrun-readme-'));
    try {
      const file = join(dir, 'boxrun.toml');
      writeFileSync(file, stringifyToml(toml));
      const config = loadConfig({ env: {}, file }) as unknown as ClusterConfig & { store: { url: string } };
      expect(config.store.url).toMatch(/^postgres:\/\//);
      if (configHasCluster) expect(config.cluster?.role).toBe('all');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('docs/cluster.md names only deploy files that exist, and README links it', () => {
    const doc = readFileSync(join(repoRoot, 'docs', 'cluster.md'), 'utf8');
    const named = new Set(
      [...doc.matchAll(/(?<![\w/])deploy\/(?:Dockerfile|(?:compose|k8s)(?:\/[\w.-]*\w)?)/g)].map((m) => m[0]),
    );
    expect(named.size).toBeGreaterThan(3);
    // deploy/compose/.env is the one the operator writes (from cluster.env.example).
    named.delete('deploy/compose/.env');
    for (const path of named) expect(existsSync(join(repoRoot, path)), path).toBe(true);
    // The Kubernetes section names its manifests by file name alone.
    const manifests = [...doc.matchAll(/`([\w-]+\.yaml)`/g)].map((m) => m[1] ?? '');
    expect(manifests).toContain('worker-dind.yaml');
    for (const file of manifests) expect(existsSync(join(repoRoot, 'deploy', 'k8s', file)), file).toBe(true);
    expect(doc).toMatch(/^## How the queue works$/m);
    expect(readFileSync(join(repoRoot, 'README.md'), 'utf8')).toContain('](docs/cluster.md)');
  });
});
