import type { BoxrunConfig } from '../config/config.js';
import type { ExecutionService } from '../executions/execution-service.js';
import type { RuntimeRegistry } from '../runtimes/registry.js';
import type { ApiKeyAuthenticator } from './auth.js';

/** What every route module gets. */
export interface RouteContext {
  config: BoxrunConfig;
  service: ExecutionService;
  auth: ApiKeyAuthenticator;
  registry: RuntimeRegistry;
}
