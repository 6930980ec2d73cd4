import type { BoxrunConfig } from '../config/config.js';
import type { RuntimeRegistry } from '../runtimes/registry.js';
import type { ApiKeyAuthenticator } from './auth.js';
import type { ExecutionService } from './execution-service.js';

/** What every route module gets. */
export interface RouteContext {
  config: BoxrunConfig;
  service: ExecutionService;
  auth: ApiKeyAuthenticator;
  registry: RuntimeRegistry;
}
