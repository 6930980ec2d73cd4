// `boxrun/client`: talk to a boxrun service from Node, a browser or an edge runtime.
// Nothing here may import a Node module or a runtime dependency (see test/e2e/client.test.ts).
export { BoxrunApiError, isBoxrunApiError } from './api-error.js';
export { BatchHandle, BoxrunClient, type BoxrunClientOptions, type SubmitOptions } from './boxrun-client.js';
export { ExecutionHandle } from './execution-handle.js';
export type { CallOptions, RetryOptions } from './http-transport.js';
export {
  type AttachedCommand,
  type AttachOptions,
  SessionClient,
  type WebSocketConstructor,
} from './session-client.js';
export type * from './types.js';
