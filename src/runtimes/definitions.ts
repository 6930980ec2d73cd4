/**
 * Language runtimes: small declarative definitions. Commands are argv arrays in which
 * `{file}` is the main file's path and `{name}` its base name without extension.
 */
export interface RuntimeDefinition {
  name: string;
  /** The language version the image installs (Debian bookworm's package). */
  version: string;
  aliases: string[];
  extensions: string[];
  /** Image tag; built from runtimes/<dockerfile>/Dockerfile. */
  image: string;
  dockerfile: string;
  /** File name given to a single source file when the caller did not name it. */
  sourceFile: string;
  compile?: string[];
  run: string[];
  env?: Record<string, string>;
  /** Defaults for this runtime's compile step (compilers want more than programs). */
  compileLimits?: { timeoutMs?: number; memoryMb?: number; pids?: number };
  /**
   * npm packages (from this repo's node_modules) copied into the image's build context, as
   * context path → package folder; their versions are part of the image hash.
   */
  contextPackages?: Record<string, string>;
  /** Extra compile flags used when the request asks for a test framework. */
  testFrameworks?: Record<string, string[]>;
}

const gccEnv = { TMPDIR: '/tmp' };

export const RUNTIMES: readonly RuntimeDefinition[] = [
  {
    name: 'python',
    version: '3.11',
    aliases: ['py', 'python3'],
    extensions: ['.py'],
    image: 'boxrun/python:3.11',
    dockerfile: 'python',
    sourceFile: 'main.py',
    run: ['python3', '-u', '{file}'],
    env: { PYTHONDONTWRITEBYTECODE: '1', PYTHONIOENCODING: 'utf-8' },
  },
  {
    name: 'javascript',
    version: '18',
    aliases: ['js', 'node', 'nodejs'],
    extensions: ['.js', '.mjs', '.cjs'],
    image: 'boxrun/javascript:18',
    dockerfile: 'javascript',
    sourceFile: 'main.js',
    run: ['node', '{file}'],
  },
  {
    name: 'typescript',
    version: '5.9',
    aliases: ['ts'],
    extensions: ['.ts'],
    image: 'boxrun/typescript:5.9',
    dockerfile: 'typescript',
    sourceFile: 'main.ts',
    // Debian's node-typescript is old and has no @types/node; the image gets TypeScript 5 and
    // Node 18's types from this repo's own (pinned) dev dependencies instead.
    contextPackages: { 'ts/typescript': 'sandbox-typescript', 'ts/@types/node': 'sandbox-types-node' },
    compile: [
      'tsc',
      '--typeRoots',
      '/opt/ts/node_modules/@types',
      '--target',
      'es2020',
      '--module',
      'commonjs',
      '--types',
      'node',
      '--strict',
      '--noEmitOnError',
      '--outDir',
      '.',
      '{file}',
    ],
    run: ['node', '{name}.js'],
    compileLimits: { timeoutMs: 60_000, memoryMb: 1024 },
  },
  {
    name: 'c',
    version: '12',
    aliases: ['gcc'],
    extensions: ['.c'],
    image: 'boxrun/c:12',
    dockerfile: 'c',
    sourceFile: 'main.c',
    compile: ['gcc', '-O2', '-std=c17', '-Wall', '-o', 'main', '{file}', '-lm'],
    run: ['./main'],
    env: gccEnv,
    compileLimits: { timeoutMs: 30_000, memoryMb: 1024 },
  },
  {
    name: 'cpp',
    version: '12',
    aliases: ['c++', 'g++', 'cxx'],
    extensions: ['.cpp', '.cc', '.cxx', '.c++'],
    image: 'boxrun/cpp:12',
    dockerfile: 'cpp',
    sourceFile: 'main.cpp',
    compile: ['g++', '-O2', '-std=c++17', '-Wall', '-o', 'main', '{file}', '-lm'],
    run: ['./main'],
    env: gccEnv,
    compileLimits: { timeoutMs: 30_000, memoryMb: 1024 },
    testFrameworks: { doctest: ['-DDOCTEST_CONFIG_IMPLEMENT_WITH_MAIN'] },
  },
  {
    name: 'rust',
    version: '1.63',
    aliases: ['rs', 'rustc'],
    extensions: ['.rs'],
    image: 'boxrun/rust:1.63',
    dockerfile: 'rust',
    sourceFile: 'main.rs',
    compile: ['rustc', '-O', '--edition', '2021', '-o', 'main', '{file}'],
    run: ['./main'],
    env: gccEnv,
    compileLimits: { timeoutMs: 60_000, memoryMb: 1024 },
  },
  {
    name: 'go',
    version: '1.19',
    aliases: ['golang'],
    extensions: ['.go'],
    image: 'boxrun/go:1.19',
    dockerfile: 'go',
    sourceFile: 'main.go',
    compile: ['go', 'build', '-o', 'main', '{file}'],
    run: ['./main'],
    env: {
      GOCACHE: '/tmp/go-cache',
      GOPATH: '/tmp/go',
      GO111MODULE: 'off',
      CGO_ENABLED: '0',
      GOFLAGS: '-buildvcs=false',
    },
    compileLimits: { timeoutMs: 60_000, memoryMb: 1024 },
  },
  {
    name: 'java',
    version: '17',
    aliases: ['jdk'],
    extensions: ['.java'],
    image: 'boxrun/java:17',
    dockerfile: 'java',
    sourceFile: 'Main.java',
    compile: [
      'javac',
      '-J-XX:+UseSerialGC',
      '-J-XX:TieredStopAtLevel=1',
      '-encoding',
      'UTF-8',
      '-d',
      '.',
      '{file}',
    ],
    run: ['java', '-XX:+UseSerialGC', '-XX:MaxRAMPercentage=60', '-Xss64m', '-cp', '.', '{name}'],
    compileLimits: { timeoutMs: 60_000, memoryMb: 1024 },
  },
  {
    name: 'bash',
    version: '5.2',
    aliases: ['sh', 'shell'],
    extensions: ['.sh', '.bash'],
    image: 'boxrun/bash:5.2',
    dockerfile: 'bash',
    sourceFile: 'main.sh',
    run: ['bash', '{file}'],
  },
];
