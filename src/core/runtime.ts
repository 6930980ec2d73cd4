/**
 * A language runtime, declared as data (the definitions are in src/runtimes/definitions.ts).
 * Commands are argv arrays in which `{file}` is the main file's path and `{name}` its base name
 * without extension. Here because plans and prepared programs, which core describes, carry one.
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
  /**
   * 'java': files are renamed after their public class, the class with `main` is run by its
   * qualified name and every .java file is compiled (src/runtimes/java-source.ts).
   */
  sourceLayout?: 'java';
}
