import { constants } from 'node:os';
import type { ResourceLimits } from '../../core/request.js';
import type { StepResult } from '../../core/result.js';
import { classifyStep, encodeBytes, signalName } from '../../core/verdict.js';
import type { SandboxOutcome } from './job-runner.js';

/** Supervisor report + host observations → one step's result. */
export function toStepResult(outcome: SandboxOutcome, limits: ResourceLimits): StepResult {
  const r = outcome.report;
  const stdout = encodeBytes(outcome.stdout);
  const stderr = encodeBytes(outcome.stderr);
  const base = {
    stdout: stdout.text,
    stderr: stderr.text,
    stdoutEncoding: stdout.encoding,
    stderrEncoding: stderr.encoding,
  };
  if (!r) {
    // The supervisor never reported: the container was killed from outside or died.
    const timedOut = outcome.hostTimedOut;
    const oomKilled = outcome.engineOomKilled;
    const status = oomKilled ? 'memory_limit' : timedOut ? 'time_limit' : 'internal_error';
    return {
      ...base,
      status,
      exitCode: null,
      signal: timedOut || oomKilled ? 'SIGKILL' : null,
      timedOut,
      oomKilled,
      outputTruncated: false,
      durationMs: timedOut ? limits.timeoutMs : 0,
      cpuTimeMs: 0,
      peakMemoryBytes: oomKilled ? limits.memoryMb * 1024 * 1024 : 0,
      ...(outcome.failure ? { message: outcome.failure } : {}),
    };
  }
  const oomKilled = r.oomKills > 0;
  // SIGXCPU is the RLIMIT_CPU backstop: where the supervisor cannot read a cgroup CPU counter
  // (gVisor has no cgroupfs inside the sandbox) it is how the CPU-time limit ends a program.
  const cpuExceeded = r.cpuExceeded || (limits.cpuTimeMs > 0 && r.signal === constants.signals.SIGXCPU);
  const timedOut = r.timedOut || cpuExceeded;
  const outputTruncated = r.outputLimited !== null;
  const exitCode = r.signal > 0 ? null : r.exitCode;
  const status = classifyStep({
    exitCode,
    signal: r.signal,
    oomKilled,
    timedOut,
    outputTruncated,
    execError: r.execError,
  });
  let message: string | undefined;
  if (r.execError) message = `could not start the program: ${r.execError}`;
  else if (cpuExceeded) message = `CPU time limit of ${limits.cpuTimeMs} ms exceeded`;
  else if (r.timedOut) message = `wall time limit of ${limits.timeoutMs} ms exceeded`;
  else if (oomKilled) message = `memory limit of ${limits.memoryMb} MiB exceeded`;
  else if (outputTruncated)
    message = `${r.outputLimited} exceeded the output limit of ${limits.outputBytes} bytes`;
  return {
    ...base,
    status,
    exitCode,
    signal: signalName(r.signal),
    timedOut,
    oomKilled,
    outputTruncated,
    durationMs: Math.round(r.durationUs / 1000),
    cpuTimeMs: Math.round(r.cpuTimeUs / 1000),
    peakMemoryBytes: r.maxRssKb * 1024,
    ...(message ? { message } : {}),
  };
}
