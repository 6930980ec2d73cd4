/**
 * `npx tsx bench/host-cpu.ts` — the host-side CPU boxrun spends per recycled execution, step by step
 * (no engine needed): what the library does between a request and its sandbox's frames, and on the
 * way back. Measured as process CPU time (user + system) per call over many calls, so other load on
 * the machine inflates it far less than wall time. Benchmarks are not tests: nothing here asserts.
 */
import { createContainerSpec } from '../src/backends/docker/container-spec.js';
import { resolveSeccompProfile, seccompSecurityOption } from '../src/backends/docker/security-profile.js';
import { specKey } from '../src/backends/docker/warm-pool.js';
import { encodeFrame, encodeJob, FrameDecoder } from '../src/backends/supervisor/protocol.js';
import { toStepResult } from '../src/backends/supervisor/step-result.js';
import { loadConfig } from '../src/config/config.js';
import { planExecution } from '../src/runtimes/plan.js';
import { defaultRegistry } from '../src/runtimes/registry.js';

const N = 5000;
const config = loadConfig();
const request = { runtime: 'python', files: [{ path: 'main.py', content: 'print(1)' }] };
const plan = planExecution(request, defaultRegistry, config);
const seccompProfile = seccompSecurityOption(resolveSeccompProfile(config.docker.seccompProfile), false);
const makeSpec = () =>
  createContainerSpec({
    id: 'bench',
    image: plan.image,
    limits: plan.run.limits,
    user: config.docker.user,
    deadline: Date.now(),
    kind: 'oneshot',
    ...(seccompProfile ? { seccompProfile } : {}),
  });
const spec = makeSpec();
const job = { ...plan.run.job, limits: { ...plan.run.job.limits, recycle: 1 } };
const report = {
  exitCode: 0,
  signal: 0,
  timedOut: false,
  cpuExceeded: false,
  canceled: false,
  oomKills: 0,
  cpuTimeUs: 1000,
  maxRssKb: 9000,
  cgroupPeakBytes: 0,
  durationUs: 7000,
  stdoutBytes: 2,
  stderrBytes: 0,
  outputLimited: null,
  execError: null,
  reset: 'clean',
  resetUs: 900,
};
const replies = Buffer.concat([
  encodeFrame('S'),
  encodeFrame('o', '1\n'),
  encodeFrame('r', JSON.stringify(report)),
]);
const outcome = {
  report,
  stdout: Buffer.from('1\n'),
  stderr: Buffer.alloc(0),
  files: [],
  refused: [],
  hostTimedOut: false,
  engineOomKilled: false,
  failure: null,
};

const steps: [string, () => unknown][] = [
  ['plan (validate + resolve)', () => planExecution(request, defaultRegistry, config)],
  ['container spec', makeSpec],
  ['pool key of the spec', () => specKey(spec)],
  ['job frames', () => encodeJob(job)],
  ['decode the replies', () => new FrameDecoder(64 << 20).push(replies)],
  ['step result', () => toStepResult(outcome, plan.run.limits)],
];
let total = 0;
for (const [name, step] of steps) {
  for (let i = 0; i < 500; i++) step();
  const before = process.cpuUsage();
  for (let i = 0; i < N; i++) step();
  const used = process.cpuUsage(before);
  const us = (used.user + used.system) / N;
  total += us;
  console.log(`${name.padEnd(28)} ${us.toFixed(1).padStart(7)} µs CPU`);
}
console.log(
  `${'in all'.padEnd(28)} ${total.toFixed(1).padStart(7)} µs CPU (load ${(await import('node:os')).loadavg()[0]!.toFixed(1)})`,
);
