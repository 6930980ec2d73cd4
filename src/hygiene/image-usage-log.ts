import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DfImage } from './disk-usage.js';

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
