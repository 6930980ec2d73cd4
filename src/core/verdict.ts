import { constants } from 'node:os';
import type { Encoding, ExecutionStatus } from './result.js';

// The first name of a number is the usual one (SIGABRT, not its alias SIGIOT; SIGIO, not SIGPOLL).
const signalNames = new Map<number, string>();
for (const [name, num] of Object.entries(constants.signals)) {
  if (!signalNames.has(num as number)) signalNames.set(num as number, name);
}

export function signalName(signal: number): string | null {
  return signal > 0 ? (signalNames.get(signal) ?? `SIG${signal}`) : null;
}

/** The number of a signal name (`SIGSEGV` → 11), for peers that report numbers (isolate, Judge0). */
export function signalNumber(name: string | null): number | null {
  if (!name) return null;
  const known = (constants.signals as Record<string, number>)[name];
  return known ?? (Number(name.replace(/^SIG/, '')) || null);
}

export interface StepFacts {
  exitCode: number | null;
  signal: number;
  oomKilled: boolean;
  timedOut: boolean;
  outputTruncated: boolean;
  /** The program could not be started at all (exec failed). */
  execError: string | null;
}

/**
 * One verdict per step. A memory kill wins over a timeout (an OOM often looks like a stall), a time
 * limit over the output cap, and any of them over the exit status they caused.
 */
export function classifyStep(f: StepFacts): ExecutionStatus {
  if (f.oomKilled) return 'memory_limit';
  if (f.timedOut) return 'time_limit';
  if (f.outputTruncated) return 'output_limit';
  if (f.execError) return 'runtime_error';
  if (f.signal > 0 || (f.exitCode !== null && f.exitCode !== 0)) return 'runtime_error';
  return 'ok';
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Text when the bytes are valid UTF-8, base64 otherwise, so binary output survives JSON. */
export function encodeBytes(bytes: Buffer): { text: string; encoding: Encoding } {
  try {
    return { text: utf8.decode(bytes), encoding: 'utf8' };
  } catch {
    return { text: bytes.toString('base64'), encoding: 'base64' };
  }
}
