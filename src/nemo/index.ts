// The upstream client's public surface, so callers import from one place.
export { NemoClient, type NemoClientOptions, type RenderRequest } from './client.js';
export {
  NemoError,
  isNemoError,
  type NemoEndpoint,
  type NemoErrorKind,
  type NemoErrorPhase,
} from './errors.js';
export { TokenProvider, type TokenProviderOptions } from './token.js';
export { AgentStreamDecoder, decodeStream, summariseRun, type AgentEvent, type AgentRunResult } from './sse.js';
export type { RunAgentOptions } from './run-agent.js';
export type { RenderState, RenderStatus } from './render-status.js';
export type { Draft, SessionState, Track, UploadedFile } from './schemas.js';
export {
  draftDurationMs,
  isExportable,
  rewriteSandboxPaths,
  stateFingerprint,
  summariseTimeline,
} from './draft.js';
