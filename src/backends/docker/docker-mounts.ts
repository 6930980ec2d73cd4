import type Docker from 'dockerode';
import {
  CACHE_DIR,
  cacheVolumeName,
  type SandboxMounts,
  WORKSPACE_DIR,
} from '../../workspaces/resolve-workspace.js';
import { isNotFound, translateEngineError } from './engine.js';
import { LABEL_DEADLINE, LABEL_MANAGED } from './labels.js';

export const LABEL_CACHE = 'boxrun.cache';

/**
 * The Docker form of a request's mounts. The workspace bind is the one place a host path reaches
 * the engine: it is the point of the feature (build a checkout in place), it is resolved and checked
 * against `workspaces.allowed_roots` first, and it is mounted read-only unless the request asks for
 * `rw`. A remote engine would bind *its* host's path: workspaces need a local engine.
 */
export function dockerMounts(mounts: SandboxMounts): NonNullable<Docker.HostConfig['Mounts']> {
  const list: NonNullable<Docker.HostConfig['Mounts']> = [];
  if (mounts.workspace) {
    list.push({
      Type: 'bind',
      Source: mounts.workspace.hostPath,
      Target: WORKSPACE_DIR,
      ReadOnly: mounts.workspace.readOnly,
      BindOptions: { Propagation: 'rprivate' },
    });
  }
  if (mounts.cacheVolume) {
    list.push({
      Type: 'volume',
      Source: cacheVolumeName(mounts.cacheVolume),
      Target: CACHE_DIR,
      ReadOnly: false,
    });
  }
  return list;
}

/**
 * A named cache volume, created on first use and handed to the sandbox user: a fresh volume is
 * root-owned, so one short root container (no network, our own command) chowns its top directory.
 */
export async function ensureCacheVolume(
  docker: Docker,
  name: string,
  image: string,
  owner: { uid: number; gid: number },
): Promise<void> {
  const volume = cacheVolumeName(name);
  try {
    await docker.getVolume(volume).inspect();
    return;
  } catch (error) {
    if (!isNotFound(error)) throw translateEngineError(error, `inspecting cache volume ${volume}`);
  }
  try {
    await docker.createVolume({ Name: volume, Labels: { [LABEL_MANAGED]: 'true', [LABEL_CACHE]: name } });
    const helper = await docker.createContainer({
      Image: image,
      Entrypoint: [],
      Cmd: ['chown', `${owner.uid}:${owner.gid}`, '/v'],
      User: '0:0',
      Labels: { [LABEL_MANAGED]: 'true', [LABEL_DEADLINE]: String(Date.now() + 60_000) },
      HostConfig: { NetworkMode: 'none', Mounts: [{ Type: 'volume', Source: volume, Target: '/v' }] },
    });
    try {
      await helper.start();
      await helper.wait();
    } finally {
      await helper.remove({ force: true }).catch(() => {});
    }
  } catch (error) {
    throw translateEngineError(error, `creating cache volume ${volume}`);
  }
}
