// The process's one undici Agent for outgoing HTTP that needs no SSRF guard: the upstream API and its result links.
import { Agent } from 'undici';

let shared: Agent | null = null;

/**
 * Not undici's global dispatcher: that is a slot on globalThis which whichever copy of undici comes first fills. Node 24
 * fills it with its bundled copy (undici 7.29 in Node 24.21) as soon as `node:http` loads or fetch() runs, so in every
 * process where that happened before this package loaded (the test and benchmark workers did) each upstream call went
 * through Node's undici 7 instead of the undici 8 this project depends on. This Agent is always the dependency's own,
 * whatever the import order: one connection pool per origin for the whole process.
 */
export function sharedAgent(): Agent {
  return (shared ??= new Agent());
}
