import { chmodSync, chownSync, mkdirSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { BoxrunConfig } from '../config/config.js';
import { BoxrunError } from '../core/errors.js';
import type { ExecutionRequest } from '../core/request.js';

/** Where a request's host workspace appears inside every sandbox. */
export const WORKSPACE_DIR = '/workspace';
/** Where a request's named cache appears inside every sandbox. */
export const CACHE_DIR = '/cache';

export interface ResolvedWorkspace {
  /** Fully resolved host path (no symlink, no `..`): the thing actually mounted. */
  hostPath: string;
  readOnly: boolean;
}

/** The mounts one execution asks for, resolved and checked; backends turn them into their own form. */
export interface SandboxMounts {
  workspace: ResolvedWorkspace | null;
  cacheVolume: string | null;
  /** uid:gid the sandbox runs as: the workspace owner when something is mounted. */
  user: { uid: number; gid: number } | null;
}

function isWithin(path: string, root: string): boolean {
  return root === '/' || path === root || path.startsWith(`${root}/`);
}

/**
 * A host directory a request may mount. The path is resolved *before* the check (realpath follows
 * every symlink and `..`), and the resolved path is what gets mounted, so a link inside an allowed
 * root that points elsewhere is refused instead of followed. Roots that do not exist are ignored.
 */
export function resolveWorkspace(
  workspace: NonNullable<ExecutionRequest['workspace']>,
  config: BoxrunConfig['workspaces'],
): ResolvedWorkspace {
  if (config.allowedRoots.length === 0) {
    throw new BoxrunError(
      'FORBIDDEN',
      'workspace: host workspaces are disabled; set workspaces.allowed_roots in the config to enable them',
      { details: { path: 'workspace.hostPath' } },
    );
  }
  const requested = workspace.hostPath;
  if (requested.includes('\0') || !isAbsolute(requested)) {
    throw new BoxrunError('INVALID_REQUEST', 'workspace.hostPath: must be an absolute host path', {
      details: { path: 'workspace.hostPath' },
    });
  }
  let resolved: string;
  try {
    resolved = realpathSync(requested);
  } catch (error) {
    throw new BoxrunError(
      'INVALID_REQUEST',
      `workspace.hostPath: ${requested} cannot be resolved (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      { details: { path: 'workspace.hostPath' } },
    );
  }
  const roots = config.allowedRoots.flatMap((root) => {
    try {
      return [realpathSync(root)];
    } catch {
      return [];
    }
  });
  if (!roots.some((root) => isWithin(resolved, root))) {
    throw new BoxrunError(
      'FORBIDDEN',
      `workspace.hostPath: ${requested} resolves to ${resolved}, which is outside the allowed roots (${config.allowedRoots.join(', ')}); symlinks and '..' are resolved before this check`,
      { details: { path: 'workspace.hostPath' } },
    );
  }
  if (!statSync(resolved).isDirectory()) {
    throw new BoxrunError('INVALID_REQUEST', `workspace.hostPath: ${resolved} is not a directory`, {
      details: { path: 'workspace.hostPath' },
    });
  }
  return { hostPath: resolved, readOnly: workspace.mode !== 'rw' };
}

/** Everything mount-related of one request; null fields when it asks for nothing. */
export function resolveSandboxMounts(request: ExecutionRequest, config: BoxrunConfig): SandboxMounts {
  const workspace = request.workspace ? resolveWorkspace(request.workspace, config.workspaces) : null;
  const cacheVolume = request.cacheVolume ?? null;
  const user = workspace || cacheVolume ? { uid: config.workspaces.uid, gid: config.workspaces.gid } : null;
  return { workspace, cacheVolume, user };
}

/**
 * A named cache as a host directory (namespace and host executors), owned by the workspace user.
 * Docker uses a named volume of the same name instead.
 */
export function cacheDirectory(stateDir: string, name: string, owner: { uid: number; gid: number }): string {
  // bwrap binds as the sandbox uid, so the parents must be searchable; the cache itself is private.
  mkdirSync(join(stateDir, 'caches'), { recursive: true, mode: 0o755 });
  chmodSync(join(stateDir, 'caches'), 0o755);
  const dir = join(stateDir, 'caches', name);
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  if (process.getuid?.() === 0) chownSync(dir, owner.uid, owner.gid);
  return dir;
}

/** Docker volume name of a named cache. */
export function cacheVolumeName(name: string): string {
  return `boxrun-cache-${name}`;
}
