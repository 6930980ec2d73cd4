/** How an execution or step ended, and the shapes its output and isolation are described in. */
export const EXECUTION_STATUSES = [
  'ok',
  'compile_error',
  /** The request's Dockerfile did not build; `build.log` says why. */
  'build_error',
  'runtime_error',
  'time_limit',
  'memory_limit',
  'output_limit',
  'internal_error',
] as const;
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];

export type IsolationLevel = 'none' | 'process' | 'container' | 'vm';

/** Text when the bytes are valid UTF-8, base64 otherwise: nothing the program wrote is lost. */
export type Encoding = 'utf8' | 'base64';
