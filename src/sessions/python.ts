import { BoxrunError } from '../core/errors.js';
import type { CommandOptions, CommandResult, Session } from './session.js';
import type { CreateSessionOptions, SessionManager } from './session-manager.js';

export interface InstallOptions {
  /** An index other than pip's default (a private mirror, a local simple index). */
  indexUrl?: string;
  /** Directories or URLs with wheels/sdists (pip --find-links). */
  findLinks?: string[];
  /** Only `findLinks`, no index at all (wheels shipped into the session; works without network). */
  noIndex?: boolean;
  timeoutMs?: number;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
}

/** A requirement specifier, never an option (`--index-url=…` would redirect the install). */
const REQUIREMENT =
  /^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,-]+\])?\s*([<>=!~]=?[^;\s]*(\s*,\s*[<>=!~]=?[^;\s]*)*)?$/;

/**
 * `pip install --user` in the session: packages land under /tmp/.local (HOME is /tmp), which
 * Python puts on sys.path by itself, and persist for the session's later commands. Needs a network
 * policy that reaches the index (sessions: network 'full'); with 'none' pip fails, as a result.
 */
export function installPythonPackages(
  session: Session,
  requirements: string[],
  options: InstallOptions = {},
): Promise<CommandResult> {
  for (const [i, r] of requirements.entries()) {
    if (!REQUIREMENT.test(r.trim())) {
      throw new BoxrunError('INVALID_REQUEST', `requirements.${i}: '${r}' is not a requirement specifier`, {
        details: { path: `requirements.${i}` },
      });
    }
  }
  const argv = [
    'python3',
    '-m',
    'pip',
    'install',
    '--user',
    // Debian marks its Python externally managed (PEP 668); a --user install in a throwaway
    // sandbox is exactly what that guard is not about.
    '--break-system-packages',
    '--no-input',
    '--disable-pip-version-check',
    '--no-cache-dir',
    '--progress-bar',
    'off',
  ];
  if (options.indexUrl) {
    argv.push('--index-url', options.indexUrl);
    const host = safeHost(options.indexUrl);
    if (host && options.indexUrl.startsWith('http:')) argv.push('--trusted-host', host);
  }
  if (options.noIndex) argv.push('--no-index');
  for (const link of options.findLinks ?? []) argv.push('--find-links', link);
  argv.push('--', ...requirements.map((r) => r.trim()));
  const commandOptions: CommandOptions = {
    timeoutMs: options.timeoutMs ?? Math.max(session.limits.timeoutMs, 120_000),
    ...(options.onStdout ? { onStdout: options.onStdout } : {}),
    ...(options.onStderr ? { onStderr: options.onStderr } : {}),
  };
  return session.run(argv, commandOptions);
}

function safeHost(url: string): string | null {
  try {
    return new URL(url).hostname;
  } catch {
    throw new BoxrunError('INVALID_REQUEST', `indexUrl: '${url}' is not a URL`, {
      details: { path: 'indexUrl' },
    });
  }
}

export interface RunPythonCodeOptions
  extends Omit<CreateSessionOptions, 'runtime' | 'image'>,
    InstallOptions {
  requirements?: string[];
  /** Wall limit of the code itself (the install has its own, `timeoutMs` of InstallOptions). */
  codeTimeoutMs?: number;
  stdin?: string;
  /** Run in this session instead of a new one (which is closed afterwards). */
  session?: Session;
}

export interface PythonCodeResult extends CommandResult {
  /** The `pip install` step, when there were requirements. */
  install: CommandResult | null;
}

/**
 * Seed 001's `run_python_code(code, requirements=[…])`: a Python session, the requirements
 * installed into it, the code run as main.py. An install that fails is returned as the result
 * (its status and pip's output), and the code is not run.
 */
export async function runPythonCode(
  manager: SessionManager,
  code: string,
  options: RunPythonCodeOptions = {},
): Promise<PythonCodeResult> {
  const { requirements = [], session: given, codeTimeoutMs, stdin, ...rest } = options;
  const { indexUrl, findLinks, noIndex, timeoutMs, onStdout, onStderr, ...sessionOptions } = rest;
  const session = given ?? (await manager.create({ ...sessionOptions, runtime: 'python' }));
  try {
    let install: CommandResult | null = null;
    if (requirements.length > 0) {
      install = await installPythonPackages(session, requirements, {
        ...(indexUrl ? { indexUrl } : {}),
        ...(findLinks ? { findLinks } : {}),
        ...(noIndex ? { noIndex } : {}),
        ...(timeoutMs ? { timeoutMs } : {}),
      });
      if (install.status !== 'ok') {
        return {
          ...install,
          message: `installing requirements failed (${install.status}${install.exitCode !== null ? `, pip exit ${install.exitCode}` : ''})`,
          install,
        };
      }
    }
    await session.files.write('main.py', code);
    const result = await session.run(['python3', '-u', 'main.py'], {
      ...(codeTimeoutMs ? { timeoutMs: codeTimeoutMs } : {}),
      ...(stdin !== undefined ? { stdin } : {}),
      ...(onStdout ? { onStdout } : {}),
      ...(onStderr ? { onStderr } : {}),
    });
    return { ...result, install };
  } finally {
    if (!given) await session.close();
  }
}
