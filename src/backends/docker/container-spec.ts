import type Docker from 'dockerode';
import type { ResourceLimits } from '../../core/request.js';
import { SUPERVISOR_PATH, WORK_DIR } from '../supervisor/protocol.js';
import {
  LABEL_DEADLINE,
  LABEL_EXECUTION,
  LABEL_KIND,
  LABEL_MANAGED,
  LABEL_OWNER,
  PROCESS_OWNER,
} from './labels.js';

/** Where the supervisor volume is mounted in custom images that do not ship boxrun-sv. */
export const MOUNTED_SUPERVISOR_DIR = '/.boxrun';

/**
 * The engine's pids limit of a gVisor sandbox. It counts the gVisor kernel's host threads, not the
 * program's processes: a fork bomb held at 64 processes inside took the sandbox's host threads to
 * 850 within 7 s (measured here), and a host pids limit near `limits.pids` crashed the gVisor
 * kernel itself ("sandbox ended without a report"). Go caps the gVisor kernel at 10,000 threads.
 */
export const SENTRY_HOST_PIDS = 16_384;

export interface ContainerSpecInput {
  id: string;
  image: string;
  limits: ResourceLimits;
  /** uid:gid, never root. */
  user: string;
  /** Epoch ms after which the reaper may remove the container. */
  deadline: number;
  kind: 'oneshot' | 'pool' | 'session';
  /** Run the supervisor in session mode: many jobs, files persist between them. */
  session?: boolean;
  /** For images without boxrun-sv: the named volume holding it. */
  supervisorVolume?: string;
  runtime?: string;
  /**
   * The runtime gives the sandbox a kernel of its own (gVisor: the `vm` tier). There the supervisor
   * starts as root with CAP_SETUID and CAP_SETGID only and runs the program as `user` with no
   * capabilities (boxrun-sv --user), because gVisor delivers the program's signals to PID 1; the
   * pids limit is enforced in that kernel (RLIMIT_NPROC of the program's uid), and the engine's
   * limit only bounds the gVisor kernel's own host threads (SENTRY_HOST_PIDS).
   */
  ownKernel?: boolean;
  /** HostConfig.NetworkMode from the request's network policy (network-policy.ts); 'none' when absent. */
  networkMode?: string;
  /** What follows `seccomp=`: the profile's JSON (Docker) or its path (Podman), or 'unconfined'. */
  seccompProfile?: string;
  apparmorProfile?: string;
  /** Extra mounts: a host workspace at /workspace, a cache volume at /cache (src/workspaces/). */
  mounts?: NonNullable<Docker.HostConfig['Mounts']>;
}

/**
 * Every sandbox gets the same locked-down shape: no network, read-only rootfs, tmpfs work dir and
 * /tmp, no capabilities, no-new-privileges, an unprivileged user, memory = memory+swap, pids, CPU
 * and ulimits. The supervisor is PID 1 and the only way in or out is its attached stdio.
 */
export function createContainerSpec(input: ContainerSpecInput): Docker.ContainerCreateOptions {
  const { limits } = input;
  const [uid, gid = uid] = input.user.split(':');
  const ownKernel = input.ownKernel === true;
  const memory = limits.memoryMb * 1024 * 1024;
  const securityOpt = ['no-new-privileges'];
  if (input.seccompProfile) securityOpt.push(`seccomp=${input.seccompProfile}`);
  if (input.apparmorProfile) securityOpt.push(`apparmor=${input.apparmorProfile}`);
  const networkMode = input.networkMode ?? 'none';
  const tmpfsOptions = `rw,exec,nosuid,nodev,size=${limits.diskMb}m,nr_inodes=65536`;
  return {
    Image: input.image,
    Cmd: [
      input.supervisorVolume ? `${MOUNTED_SUPERVISOR_DIR}/boxrun-sv` : SUPERVISOR_PATH,
      ...(input.session ? ['--session'] : []),
      ...(ownKernel ? ['--user', `${uid}:${gid}`] : []),
    ],
    Entrypoint: [],
    User: ownKernel ? '0:0' : input.user,
    WorkingDir: WORK_DIR,
    Env: [],
    Tty: false,
    OpenStdin: true,
    StdinOnce: true,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    NetworkDisabled: networkMode === 'none',
    Hostname: 'sandbox',
    Labels: {
      [LABEL_MANAGED]: 'true',
      [LABEL_EXECUTION]: input.id,
      [LABEL_DEADLINE]: String(input.deadline),
      [LABEL_KIND]: input.kind,
      [LABEL_OWNER]: PROCESS_OWNER,
    },
    HostConfig: {
      NetworkMode: networkMode,
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      ...(ownKernel ? { CapAdd: ['SETUID', 'SETGID'] } : {}),
      SecurityOpt: securityOpt,
      Privileged: false,
      Init: false,
      AutoRemove: false,
      IpcMode: 'private',
      ShmSize: 16 * 1024 * 1024,
      Tmpfs: {
        [WORK_DIR]: `${tmpfsOptions},uid=${uid},gid=${gid},mode=0700`,
        '/tmp': `${tmpfsOptions},mode=1777`,
      },
      Memory: memory,
      MemorySwap: memory,
      NanoCpus: Math.round(limits.cpus * 1e9),
      PidsLimit: ownKernel ? SENTRY_HOST_PIDS : limits.pids,
      Ulimits: [
        { Name: 'nofile', Soft: 1024, Hard: 1024 },
        { Name: 'core', Soft: 0, Hard: 0 },
      ],
      ...(input.supervisorVolume || input.mounts?.length
        ? {
            Mounts: [
              ...(input.supervisorVolume
                ? [
                    {
                      Type: 'volume' as const,
                      Source: input.supervisorVolume,
                      Target: MOUNTED_SUPERVISOR_DIR,
                      ReadOnly: true,
                    },
                  ]
                : []),
              ...(input.mounts ?? []),
            ],
          }
        : {}),
      ...(input.runtime ? { Runtime: input.runtime } : {}),
    },
  };
}
