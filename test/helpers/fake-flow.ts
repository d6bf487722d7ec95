// In-memory FlowDeps for unit tests of the flow machine: job and flow stores, a scripted upstream, tokens, groups; every call logged.
export * from './fake-flow/fixtures.js';
export * from './fake-flow/stores.js';
export * from './fake-flow/nemo.js';
export * from './fake-flow/services.js';
export * from './fake-flow/factory.js';
