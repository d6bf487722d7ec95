// The upstream client as one job's steps see it: every call it makes is counted in the job's usage.
import type { NemoClient } from '../nemo/client.js';

/** Calls that reach the upstream (each one is one HTTP request; an agent run is one request however long it streams). */
const CALLS = new Set<string>([
  'createSession',
  'uploadUrls',
  'uploadFiles',
  'runAgent',
  'getState',
  'submitRender',
  'getRender',
  'cancelRender',
  'getCredits',
  'claimToken',
]);

export function countedUpstream(nemo: NemoClient, onCall: () => void): NemoClient {
  return new Proxy(nemo, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof prop !== 'string' || typeof value !== 'function' || !CALLS.has(prop)) return value;
      return (...args: unknown[]) => {
        onCall();
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}
