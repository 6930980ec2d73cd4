/** The parts of piston-client (no types of its own) the e2e test uses. */
declare module 'piston-client' {
  interface PistonRuntime {
    language: string;
    version: string;
    aliases: string[];
  }
  interface PistonStage {
    stdout: string;
    stderr: string;
    output: string;
    code: number | null;
    signal: string | null;
    status?: string | null;
    message?: string | null;
  }
  interface PistonResult {
    language: string;
    version: string;
    run: PistonStage;
    compile?: PistonStage;
    message?: string;
  }
  interface PistonClient {
    runtimes(): Promise<PistonRuntime[]>;
    execute(language: string, code: string, config?: Record<string, unknown>): Promise<PistonResult>;
    execute(config: Record<string, unknown>): Promise<PistonResult>;
  }
  export function piston(options?: { server?: string }): PistonClient;
}
