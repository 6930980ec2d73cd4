import type Docker from 'dockerode';

/**
 * What Podman's Docker-compatible API needs differently (see docs/images-and-networks.md, "Podman").
 * Applied by DockerBackend whenever the engine it reached turns out to be Podman — found through
 * discovery (its sockets are candidates, as in testcontainers) or configured as the podman backend.
 * - tmpfs mounts: Podman's option parser rejects `nr_inodes`, `uid=` and `gid=`. The inode cap of
 *   /box and /tmp is dropped (their size cap, `diskMb`, stays) and the work dir is given to the
 *   container's user with Podman's own `U` option instead of uid/gid;
 * - ulimits: rootful Podman's compat API gives every container nproc=1048576 (ignoring
 *   containers.conf), which runc cannot set where root lacks CAP_SYS_RESOURCE or where Podman lowered
 *   its own limit to kernel.pid_max; sandboxes ask for PODMAN_NPROC instead. RLIMIT_NPROC counts a
 *   uid's processes host-wide, so it is no sandbox limit: the pids cgroup (`pids`) is;
 * - attach: Podman passes dockerode's JSON request body on to the container's stdin
 *   (podman-attach.ts);
 * - seccomp: Podman's compat API reads `seccomp=` as a file path, not as the profile's JSON.
 */

/** The smallest usual kernel.pid_max: a ceiling every host's Podman can set. */
export const PODMAN_NPROC = 32768;

/** Whether the engine behind this client is Podman (its /version lists a "Podman Engine" component). */
export async function isPodmanEngine(docker: Docker): Promise<boolean> {
  try {
    const version = (await docker.version()) as {
      Components?: { Name?: string }[];
      Platform?: { Name?: string };
    };
    return (
      (version.Components ?? []).some((c) => /podman/i.test(c.Name ?? '')) ||
      /podman/i.test(version.Platform?.Name ?? '')
    );
  } catch {
    return false;
  }
}

export function adaptSpecForPodman(spec: Docker.ContainerCreateOptions): Docker.ContainerCreateOptions {
  const ulimits = spec.HostConfig?.Ulimits ?? [];
  const withNproc = ulimits.some((u) => u.Name === 'nproc')
    ? ulimits
    : [...ulimits, { Name: 'nproc', Soft: PODMAN_NPROC, Hard: PODMAN_NPROC }];
  const tmpfs = spec.HostConfig?.Tmpfs;
  if (!tmpfs) return { ...spec, HostConfig: { ...spec.HostConfig, Ulimits: withNproc } };
  const adapted = Object.fromEntries(
    Object.entries(tmpfs).map(([path, opts]) => [path, adaptTmpfsOptions(opts)]),
  );
  return { ...spec, HostConfig: { ...spec.HostConfig, Tmpfs: adapted, Ulimits: withNproc } };
}

/** Docker's tmpfs options → Podman's: no nr_inodes, and `U` (chown to the container user) for uid/gid. */
export function adaptTmpfsOptions(options: string): string {
  const parts = options.split(',');
  const owned = parts.some((o) => o.startsWith('uid=') || o.startsWith('gid='));
  const kept = parts.filter((o) => !/^(nr_inodes|uid|gid)=/.test(o));
  return [...kept, ...(owned ? ['U'] : [])].join(',');
}
