import { randomUUID } from 'node:crypto';
import { configDefaults, defineConfig } from 'vitest/config';

// Every container this run creates — in test workers and in the `boxrun serve` children they
// spawn, which inherit the environment — carries this label, and the leftover check counts only
// those (test/global-setup.ts). scripts/test.sh sets it for its own check after vitest.
process.env.BOXRUN_DOCKER_RUN_LABEL ??= `boxrun.testrun=${randomUUID().slice(0, 12)}`;
// Up to nine compilers at once on 2 cores (and whatever else loads CI): a compile's wall time
// grows with the load, so the runtimes' 30–60 s compile limits are lifted for the suite
// (config minCompileTimeoutMs; docs/reliability.md). Tests of the compile limit set their own.
process.env.BOXRUN_MIN_COMPILE_TIMEOUT_MS ??= '150000';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          // test/deploy checks the deployment files (compose, Kubernetes) without an engine.
          include: ['src/**/*.test.ts', 'playground/src/**/*.test.ts', 'test/deploy/**/*.test.ts'],
          testTimeout: 10_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          // After the unit tests: projects with different maxWorkers need their own group.
          sequence: { groupOrder: 1 },
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'test/deploy/**'],
          globalSetup: ['test/global-setup.ts'],
          // expect(result).toHaveStatus(…) and friends: failures print the whole result.
          setupFiles: ['test/support/result-matchers.ts'],
          // Room for a compile at the lifted compile limit plus a run, under load.
          testTimeout: 300_000,
          hookTimeout: 180_000,
          // Real containers on a 2-core machine: a few files at once, not one per core.
          maxWorkers: 2,
          fileParallelism: true,
        },
      },
    ],
  },
});
