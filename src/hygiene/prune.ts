import type Docker from 'dockerode';
import { LABEL_MANAGED } from '../backends/docker/labels.js';
import { type EngineDiskUsage, engineDiskUsage, systemDf } from './disk-usage.js';
import type { ImageUsageLog } from './image-usage-log.js';

export interface PruneOptions {
  budgetBytes: number;
  usage: ImageUsageLog;
  /** Which images are boxrun's to prune (a label filter). */
  label?: string;
  images?: boolean;
  buildCache?: boolean;
  volumes?: boolean;
  dryRun?: boolean;
}

export interface PruneReport {
  before: EngineDiskUsage;
  removedImages: string[];
  keptInUse: string[];
  removedVolumes: string[];
  buildCacheReclaimedBytes: number;
  afterEstimateBytes: number;
}

/**
 * Brings the engine's disk use under the budget: boxrun's build cache first, then unused boxrun
 * images least recently used first, then unreferenced boxrun cache volumes. An image any container
 * uses (running or not) is never removed, nor is a volume with references.
 */
export async function pruneToBudget(docker: Docker, options: PruneOptions): Promise<PruneReport> {
  const before = await engineDiskUsage(docker);
  const report: PruneReport = {
    before,
    removedImages: [],
    keptInUse: [],
    removedVolumes: [],
    buildCacheReclaimedBytes: 0,
    afterEstimateBytes: before.totalBytes,
  };
  if (options.budgetBytes <= 0 || before.totalBytes <= options.budgetBytes) return report;
  const over = () => report.afterEstimateBytes > options.budgetBytes;

  if (options.buildCache !== false && over() && !options.dryRun) {
    try {
      const res = (await docker.pruneBuilder()) as { SpaceReclaimed?: number };
      report.buildCacheReclaimedBytes = res.SpaceReclaimed ?? 0;
      report.afterEstimateBytes -= report.buildCacheReclaimedBytes;
    } catch {
      // an engine without BuildKit's cache API: nothing to reclaim there
    }
  }

  if (options.images !== false && over()) {
    const label = options.label ?? `${LABEL_MANAGED}=true`;
    const [key, value] = label.split('=') as [string, string | undefined];
    const df = await systemDf(docker);
    const containers = await docker.listContainers({ all: true });
    const inUse = new Set(containers.map((c) => c.ImageID));
    const candidates = (df.Images ?? [])
      .filter((img) => img.Labels?.[key] !== undefined && (value === undefined || img.Labels[key] === value))
      .sort((a, b) => options.usage.lastUsed(a) - options.usage.lastUsed(b));
    for (const img of candidates) {
      if (!over()) break;
      const name = img.RepoTags?.[0] ?? img.Id;
      if (inUse.has(img.Id)) {
        report.keptInUse.push(name);
        continue;
      }
      if (!options.dryRun) {
        try {
          await docker.getImage(img.Id).remove({ force: false });
        } catch {
          report.keptInUse.push(name); // a container appeared meanwhile, or a child image needs it
          continue;
        }
      }
      report.removedImages.push(name);
      report.afterEstimateBytes -= Math.max(0, img.Size - Math.max(0, img.SharedSize));
    }
  }

  if (options.volumes !== false && over()) {
    const df = await systemDf(docker);
    const volumes = (df.Volumes ?? [])
      .filter((v) => v.Labels?.[LABEL_MANAGED] === 'true' && v.Labels?.['boxrun.cache'] !== undefined)
      .filter((v) => (v.UsageData?.RefCount ?? 0) === 0)
      .sort((a, b) => Date.parse(a.CreatedAt ?? '0') - Date.parse(b.CreatedAt ?? '0'));
    for (const v of volumes) {
      if (!over()) break;
      if (!options.dryRun)
        await docker
          .getVolume(v.Name)
          .remove()
          .catch(() => {});
      report.removedVolumes.push(v.Name);
      report.afterEstimateBytes -= Math.max(0, v.UsageData?.Size ?? 0);
    }
  }
  return report;
}
