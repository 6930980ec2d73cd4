import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * Debian's chromium for the browser tests, installed with apt when absent (CI starts on a fresh
 * machine). Returns null with the reason when it cannot be had, so the tests can skip saying why.
 */
export function ensureChromium(): { path: string } | { skip: string } {
  if (existsSync(CHROMIUM_PATH)) return { path: CHROMIUM_PATH };
  if (process.getuid?.() !== 0)
    return { skip: `${CHROMIUM_PATH} is missing; as root: apt-get install -y chromium` };
  if (!existsSync('/usr/bin/apt-get')) return { skip: `${CHROMIUM_PATH} is missing and there is no apt-get` };
  try {
    const apt = ['-o', 'DPkg::Lock::Timeout=600'];
    execFileSync('apt-get', [...apt, 'update'], { stdio: 'ignore', timeout: 600_000 });
    execFileSync('apt-get', [...apt, 'install', '-y', '--no-install-recommends', 'chromium'], {
      stdio: 'ignore',
      timeout: 900_000,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } catch (error) {
    return { skip: `apt-get install chromium failed: ${(error as Error).message}` };
  }
  return existsSync(CHROMIUM_PATH)
    ? { path: CHROMIUM_PATH }
    : { skip: 'chromium installed no /usr/bin/chromium' };
}
