import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { translateEngineError } from '../backends/docker/engine.js';
import { LABEL_IMAGE_HASH, LABEL_MANAGED } from '../backends/docker/labels.js';
import type { RuntimeRegistry } from '../runtimes/registry.js';

/** What `/system/df` says, reduced to what hygiene needs. */
export interface EngineDiskUsage {
  imagesBytes: number;
  buildCacheBytes: number;
  volumesBytes: number;
  totalBytes: number;
}

interface DfImage {
  Id: string;
  Size: number;
  SharedSize: number;
  Created: number;
  RepoTags: string[] | null;
  Labels: Record<string, string> | null;
}
interface DfVolume {
  Name: string;
  Labels: Record<string, string> | null;
  CreatedAt?: string;
  UsageData?: { Size: number; RefCount: number } | null;
}
interface DfBuildCache {
  Size: number;
  InUse: boolean;
}
interface SystemDf {
  LayersSize?: number;
  Images?: DfImage[] | null;
  Volumes?: DfVolume[] | null;
  BuildCache?: DfBuildCache[] | null;
}

async function systemDf(docker: Docker): Promise<SystemDf> {
  try {
    return (await docker.df()) as SystemDf;
  } catch (error) {
    throw translateEngineError(error, 'reading disk usage (/system/df)');
  }
}

export async function engineDiskUsage(docker: Docker): Promise<EngineDiskUsage> {
  const df = await systemDf(docker);
  const imagesBytes = df.LayersSize ?? 0;
  const buildCacheBytes = (df.BuildCache ?? []).reduce((n, b) => n + (b.Size ?? 0), 0);
  const volumesBytes = (df.Volumes ?? []).reduce((n, v) => n + Math.max(0, v.UsageData?.Size ?? 0), 0);
  return {
    imagesBytes,
    buildCacheBytes,
    volumesBytes,
    totalBytes: imagesBytes + buildCacheBytes + volumesBytes,
  };
}

/**
 * When each image was last used, kept in the state dir (an image label cannot change). Executors
 * call `recordImageUse` per execution; images never recorded count from their creation time.
 */
export class ImageUsageLog {
  private readonly file: string;
  private cache: Record<string, number> | null = null;
  private lastWrite = 0;

  constructor(stateDir: string) {
    this.file = join(stateDir, 'image-usage.json');
  }

  read(): Record<string, number> {
    if (this.cache) return this.cache;
    try {
      this.cache = JSON.parse(readFileSync(this.file, 'utf8')) as Record<string, number>;
    } catch {
      this.cache = {};
    }
    return this.cache;
  }

  /** Cheap enough per execution: in memory at once, on disk at most once a second. */
  recordImageUse(image: string, at = Date.now()): void {
    const log = this.read();
    log[image] = at;
    if (at - this.lastWrite < 1000) return;
    this.lastWrite = at;
    try {
      mkdirSync(join(this.file, '..'), { recursive: true });
      writeFileSync(`${this.file}.tmp`, JSON.stringify(log));
      renameSync(`${this.file}.tmp`, this.file);
    } catch {
      // best effort: hygiene falls back to creation times
    }
  }

  lastUsed(image: DfImage): number {
    const log = this.read();
    const byTag = (image.RepoTags ?? []).map((t) => log[t] ?? 0);
    return Math.max(image.Created * 1000, log[image.Id] ?? 0, ...byTag);
  }
}

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

export interface DiskStatus {
  engine: EngineDiskUsage | null;
  budgetBytes: number;
  overBudget: boolean;
  /** Free bytes on the state dir's filesystem. */
  freeBytes: number | null;
  lowSpace: boolean;
  /** Sentences for /readyz warnings; empty when all is well. */
  warnings: string[];
}

/** For /readyz (warnings) and /metrics (the numbers). */
export async function diskStatus(
  docker: Docker | null,
  options: { stateDir: string; budgetBytes: number; lowSpaceBytes: number },
): Promise<DiskStatus> {
  const warnings: string[] = [];
  let engine: EngineDiskUsage | null = null;
  if (docker) {
    try {
      engine = await engineDiskUsage(docker);
    } catch (error) {
      warnings.push(`engine disk usage unknown: ${(error as Error).message}`);
    }
  }
  let freeBytes: number | null = null;
  try {
    const fs = statfsSync(options.stateDir);
    freeBytes = fs.bavail * fs.bsize;
  } catch {
    // state dir missing: nothing written yet
  }
  const overBudget = options.budgetBytes > 0 && engine !== null && engine.totalBytes > options.budgetBytes;
  const lowSpace = freeBytes !== null && freeBytes < options.lowSpaceBytes;
  if (overBudget)
    warnings.push(`engine disk use ${engine?.totalBytes} bytes is over the budget of ${options.budgetBytes}`);
  if (lowSpace) warnings.push(`low disk space: ${freeBytes} bytes free under ${options.stateDir}`);
  return { engine, budgetBytes: options.budgetBytes, overBudget, freeBytes, lowSpace, warnings };
}

export interface ImageLock {
  generatedAt: string;
  images: Record<string, { image: string; id: string; hash: string | null; repoDigests: string[] }>;
}

/** runtimes/images.lock.json: every runtime image pinned by content id (and digest when pushed). */
export async function lockImages(docker: Docker, registry: RuntimeRegistry): Promise<ImageLock> {
  const lock: ImageLock = { generatedAt: new Date().toISOString(), images: {} };
  for (const runtime of registry.all) {
    try {
      const info = await docker.getImage(runtime.image).inspect();
      lock.images[runtime.name] = {
        image: runtime.image,
        id: info.Id,
        hash: info.Config?.Labels?.[LABEL_IMAGE_HASH] ?? null,
        repoDigests: info.RepoDigests ?? [],
      };
    } catch (error) {
      throw translateEngineError(error, `inspecting ${runtime.image} for the lock file`);
    }
  }
  return lock;
}

/** Which runtime images differ from the lock file (rebuilt, or missing from it). */
export async function verifyLock(
  docker: Docker,
  registry: RuntimeRegistry,
  lock: ImageLock,
): Promise<{ runtime: string; expected: string | null; actual: string | null }[]> {
  const current = await lockImages(docker, registry).catch(() => null);
  return registry.all
    .map((r) => ({
      runtime: r.name,
      expected: lock.images[r.name]?.id ?? null,
      actual: current?.images[r.name]?.id ?? null,
    }))
    .filter((d) => d.expected !== d.actual);
}

export interface ScanResult {
  scanner: 'trivy' | null;
  available: boolean;
  /** Why no scan ran. */
  message?: string;
  reports: { image: string; ok: boolean; output: string }[];
}

/** `trivy image` over each runtime image when Trivy is installed; a clear message when it is not. */
export async function scanImages(images: string[], trivy = 'trivy'): Promise<ScanResult> {
  const version = await new Promise<string | null>((resolve) =>
    execFile(trivy, ['--version'], { timeout: 10_000 }, (error, stdout) =>
      resolve(error ? null : stdout.trim()),
    ),
  );
  if (!version) {
    return {
      scanner: null,
      available: false,
      message:
        "no image scanner installed: 'trivy' was not found on PATH (it is not in Debian's packages; install it from aquasecurity's releases to enable 'boxrun images scan')",
      reports: [],
    };
  }
  const reports: ScanResult['reports'] = [];
  for (const image of images) {
    const out = await new Promise<{ ok: boolean; output: string }>((resolve) =>
      execFile(
        trivy,
        ['image', '--quiet', '--severity', 'HIGH,CRITICAL', '--exit-code', '1', image],
        { timeout: 600_000, maxBuffer: 64 * 1024 * 1024 },
        (error, stdout, stderr) => resolve({ ok: !error, output: `${stdout}${stderr}`.trim() }),
      ),
    );
    reports.push({ image, ...out });
  }
  return { scanner: 'trivy', available: true, reports };
}
