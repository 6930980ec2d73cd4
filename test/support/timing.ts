/**
 * Time bounds engine tests may assert, sized for a loaded 2-core CI machine (nine compilers at
 * once, other engineers' containers, a CPU hog): generous enough that load cannot break them,
 * tight enough that a limit that is not enforced at all still fails.
 */

/**
 * How long past its wall limit a killed program may still be measured running (`durationMs`, from
 * inside the sandbox). The supervisor kills at the deadline and stops waiting for pipes 2 s later;
 * the rest is scheduling delay under load. A program that is not killed runs on until the host's
 * backstop and is not reported by the supervisor at all.
 */
export const KILL_SLACK_MS = 10_000;

/**
 * Wall limit for a program that must end by something else — the memory limit, the CPU-time limit,
 * its own end. At load 50–80 on 2 cores (seven test suites at once) sandboxes got 2–3 % of a CPU:
 * 1.5 s of CPU took over 30 s of wall time. The status still has to name the right limit.
 */
export const LOADED_WALL_MS = 120_000;
