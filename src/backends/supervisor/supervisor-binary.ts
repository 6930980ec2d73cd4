import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { BoxrunError } from '../../core/errors.js';

/** The repo's supervisor source, from src/… and dist/… alike. */
export const SUPERVISOR_SOURCE = fileURLToPath(new URL('../../../supervisor/boxrun-sv.c', import.meta.url));

const building = new Map<string, Promise<string>>();

async function compile(cc: string, args: string[]): Promise<string> {
  const r = await execa(cc, args, { timeout: 120_000, reject: false });
  if (r.failed) throw new Error(r.stderr.trim() || r.shortMessage);
  return r.stderr;
}

/**
 * boxrun-sv built for this host from the repo's C source (static when libc.a is there), cached in
 * the state dir under the source's hash, so an edited supervisor is rebuilt on next use. The host
 * executor runs it directly; the namespace executor binds it into images that do not ship it.
 */
export function hostSupervisorBinary(stateDir: string, cc = 'gcc'): Promise<string> {
  let source: Buffer;
  try {
    source = readFileSync(SUPERVISOR_SOURCE);
  } catch (error) {
    return Promise.reject(
      new BoxrunError('SETUP_FAILED', `supervisor source missing: ${(error as Error).message}`),
    );
  }
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const dir = join(stateDir, 'bin');
  const target = join(dir, `boxrun-sv-${hash}`);
  if (existsSync(target)) return Promise.resolve(target);
  const pending = building.get(target);
  if (pending) return pending;
  const build = (async () => {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const tmp = `${target}.${process.pid}.tmp`;
    const common = ['-O2', '-Wall', '-o', tmp, SUPERVISOR_SOURCE];
    try {
      await compile(cc, ['-static', ...common]).catch(() => compile(cc, common));
    } catch (error) {
      const missing = (error as Error).message.includes('ENOENT');
      throw new BoxrunError(
        'SETUP_FAILED',
        missing
          ? `cannot build boxrun-sv for this host: no C compiler '${cc}' found (install gcc, e.g. 'apt-get install gcc libc6-dev')`
          : `cannot build boxrun-sv for this host: ${(error as Error).message.slice(0, 2000)}`,
        { cause: error },
      );
    }
    chmodSync(tmp, 0o755);
    renameSync(tmp, target);
    return target;
  })();
  building.set(target, build);
  build.finally(() => building.delete(target)).catch(() => {});
  return build;
}
