import { Command } from 'commander';
import { probeIsolationTiers } from '../../backends/docker/gvisor.js';
import { backendChain, probeAllBackends } from '../../backends/selection/select-executor.js';
import {
  type CgroupEnvironment,
  cgroupLimitSupport,
  describeCgroupSupport,
} from '../../backends/supervisor/cgroup-support.js';
import type { BoxrunConfig } from '../../config/config.js';
import type { ExecutorCapabilities } from '../../core/executor.js';
import { DOCKER_ENGINE_ONLY, withExecutor } from '../with-executor.js';

/** The warm pool's settings in one line (doctor); the pool itself runs in the service. */
function describePool(pool: BoxrunConfig['pool']): string {
  const sized = Object.entries(pool.sizes).filter(([, n]) => n > 0);
  if (pool.size === 0 && sized.length === 0)
    return 'off (pool.size = 0: every execution starts its container)';
  const which = pool.runtimes.length > 0 ? pool.runtimes.join(', ') : 'every runtime';
  const overrides = sized.length > 0 ? `, sizes ${sized.map(([r, n]) => `${r}=${n}`).join(' ')}` : '';
  return `${pool.size} warm per runtime (${which}${pool.compile ? ', compile steps too' : ''}${overrides}), max ${pool.maxTotal}, ${pool.recycle ? `recycled (reset and verified between jobs; at most ${pool.maxUses} jobs and ${pool.maxAgeSeconds} s each)` : `single use, idle TTL ${pool.idleTtlSeconds} s`}, ${pool.replenishConcurrency} started at once`;
}

/** The engine's cgroups as doctor reports them (docs/reliability.md: the cgroup v2 VM run). */
function engineCgroupEnvironment(caps: ExecutorCapabilities): CgroupEnvironment {
  return {
    version: caps.engine?.cgroupVersion === '2' ? 2 : 1,
    kernel: caps.engine?.kernelVersion ?? 'unknown',
    memory: caps.supportsMemoryLimit,
    swap: caps.supportsSwapLimit !== false,
    cpuQuota: caps.supportsCpuLimit,
    pids: caps.supportsPidsLimit !== false,
  };
}

/** `boxrun doctor`: the Docker engine, its limits support, the runtime images and every backend. */
export function doctorCommand(): Command {
  return new Command('doctor')
    .description('check the engine, its limits support and the runtime images')
    .option('--json', 'print the report as JSON')
    .action((opts) =>
      withExecutor(DOCKER_ENGINE_ONLY, async ({ executor }, cfg) => {
        const health = await executor.healthCheck();
        const report: Record<string, unknown> = { ...health, pool: cfg.pool };
        const problems = [...health.problems];
        let cgroups: CgroupEnvironment | null = null;
        if (health.engine.reachable) {
          try {
            const caps = await executor.capabilities();
            report.capabilities = caps;
            if (!caps.supportsMemoryLimit)
              problems.push('the engine cannot enforce memory limits (cgroup memory controller missing)');
            if (!caps.supportsCpuLimit)
              problems.push('the engine cannot enforce CPU limits (CFS quota missing)');
            if (!caps.supportsPidsLimit)
              problems.push('the engine cannot enforce process limits (pids cgroup missing)');
            if (caps.engine) {
              cgroups = engineCgroupEnvironment(caps);
              report.cgroups = { ...cgroups, limits: cgroupLimitSupport(cgroups) };
              for (const s of cgroupLimitSupport(cgroups))
                if (s.limit === 'oomReport' && !s.enforceable)
                  problems.push(`cgroup v${cgroups.version}: ${s.via}`);
            }
          } catch (error) {
            problems.push((error as Error).message);
          }
        }
        // Which backends this host offers and which one the config picks (docs/backends.md).
        const backends = await probeAllBackends(cfg);
        const chain = backendChain(cfg);
        const chosen = chain.find((t) => backends.find((b) => b.type === t)?.available) ?? null;
        report.executor = { configured: chain, chosen, backends };
        const tiers = await probeIsolationTiers(cfg);
        report.isolation = { default: cfg.isolation.default, tiers };
        const defaultTier = tiers.find((t) => t.tier === cfg.isolation.default);
        if (defaultTier && !defaultTier.available)
          problems.push(
            `the default isolation tier '${cfg.isolation.default}' is unavailable: ${defaultTier.reason}`,
          );
        if (!chosen)
          problems.push(`no executor of the configured chain (${chain.join(' -> ')}) is available`);
        else if (chosen !== chain[0])
          problems.push(`executor: ${chain[0]} is unavailable; would fall back to ${chosen}`);
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
            if (cgroups) console.log(`cgroups:   ${describeCgroupSupport(cgroups)}`);
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
          for (const t of tiers) {
            console.log(
              `isolation: ${t.tier.padEnd(10)} ${t.available ? 'available  ' : 'unavailable'} ${t.tier === cfg.isolation.default ? '(default) ' : ''}${t.reason}`,
            );
          }
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
      }),
    );
}
