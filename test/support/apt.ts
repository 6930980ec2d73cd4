import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * Installs Debian packages when we may (root, apt-get), refreshing the package lists once if the
 * first try cannot find them. True when installed, otherwise why not (for a skip message).
 */
export function aptInstall(packages: string[]): true | string {
  if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) {
    return `cannot be installed here (needs root and apt-get): install ${packages.join(' ')}`;
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () =>
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', ...packages], {
      stdio: 'pipe',
      env,
    });
  try {
    install();
    return true;
  } catch {
    try {
      execFileSync('apt-get', ['update'], { stdio: 'pipe', env });
      install();
      return true;
    } catch (error) {
      return `apt-get install ${packages.join(' ')} failed: ${(error as Error).message.split('\n')[0]}`;
    }
  }
}
