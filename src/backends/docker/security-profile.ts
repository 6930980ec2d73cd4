import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BoxrunError } from '../../core/errors.js';

/** The stricter profile boxrun ships (Docker's default minus ptrace, unshare, io_uring, bpf, …). */
export const STRICT_SECCOMP_PROFILE = fileURLToPath(
  new URL('../../../runtimes/seccomp/strict.json', import.meta.url),
);

export interface SeccompSetting {
  /** What capabilities() reports: 'default', 'unconfined' or the profile's path. */
  report: string;
  /** The profile file, when there is one. */
  path?: string;
  /** The profile as compact JSON: what the Docker Engine API takes after `seccomp=`. */
  json?: string;
}

/**
 * config.docker.seccompProfile → what the engine gets. Empty or 'default': the engine's own default
 * profile. 'unconfined': none (not recommended). 'strict': the bundled runtimes/seccomp/strict.json.
 * Anything else: a path to a profile JSON. The Engine API wants the profile's content, not a path
 * (the docker CLI reads the file for you); a bad file is a config error found once, up front.
 */
export function resolveSeccompProfile(setting: string | undefined): SeccompSetting {
  if (!setting || setting === 'default') return { report: 'default' };
  if (setting === 'unconfined') return { report: 'unconfined' };
  const path = setting === 'strict' ? STRICT_SECCOMP_PROFILE : setting;
  if (!existsSync(path)) {
    throw new BoxrunError('CONFIG_INVALID', `docker.seccompProfile: no such file ${path}`, {
      details: { path: 'docker.seccompProfile' },
    });
  }
  let profile: unknown;
  try {
    profile = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new BoxrunError(
      'CONFIG_INVALID',
      `docker.seccompProfile: ${path} is not valid JSON: ${(error as Error).message}`,
      { cause: error, details: { path: 'docker.seccompProfile' } },
    );
  }
  const p = profile as { defaultAction?: unknown; syscalls?: unknown };
  if (typeof p.defaultAction !== 'string' || !Array.isArray(p.syscalls)) {
    throw new BoxrunError(
      'CONFIG_INVALID',
      `docker.seccompProfile: ${path} is not a seccomp profile (needs defaultAction and syscalls)`,
      { details: { path: 'docker.seccompProfile' } },
    );
  }
  return { report: path, path, json: JSON.stringify(profile) };
}

/**
 * What follows `seccomp=` in a container's security options; none for the engine's default profile.
 * Podman's compat API reads it as a file path, Docker's as the profile's JSON.
 */
export function seccompSecurityOption(setting: SeccompSetting, podman = false): string | undefined {
  return (
    (podman ? setting.path : setting.json) ?? (setting.report === 'unconfined' ? 'unconfined' : undefined)
  );
}

/** AppArmor as the engine will apply it: the configured profile, the engine's default, or none. */
export function describeAppArmor(configured: string | undefined, engineSecurityOptions: string[]): string {
  const hostHasAppArmor = engineSecurityOptions.some((o) => /(^|,)name=apparmor(,|$)/.test(o));
  if (!hostHasAppArmor) return 'unsupported';
  return configured ?? 'docker-default';
}
