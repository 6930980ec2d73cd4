import { statfsSync } from 'node:fs';
import type Docker from 'dockerode';
import { translateEngineError } from '../backends/docker/engine.js';

/** What `/system/df` says, reduced to what hygiene needs. */
export interface EngineDiskUsage {
  imagesBytes: number;
  buildCacheBytes: number;
  volumesBytes: number;
  totalBytes: number;
}

export interface DfImage {
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

export async function systemDf(docker: Docker): Promise<SystemDf> {
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
