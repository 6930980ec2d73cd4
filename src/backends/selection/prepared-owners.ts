import type { Executor, PreparedProgram, PrepareOptions } from '../../core/executor.js';
import type { ExecutionRequestInput } from '../../core/request.js';

/**
 * Which executor prepared each program, for the executors that route requests (tiers, the
 * fallback chain): a prepared program runs where it was compiled.
 */
export class PreparedOwners {
  private readonly owners = new WeakMap<PreparedProgram, Executor>();

  async prepare(
    executor: Executor,
    request: ExecutionRequestInput,
    options?: PrepareOptions,
  ): Promise<PreparedProgram> {
    const prepared = await executor.prepare(request, options);
    this.owners.set(prepared, executor);
    return prepared;
  }

  ownerOf(program: PreparedProgram): Executor | undefined {
    return this.owners.get(program);
  }
}
