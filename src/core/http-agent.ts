// The process's one undici Agent for outgoing HTTP that needs no SSRF guard: the upstream API and its result links.
import { Agent } from 'undici';

let shared: Agent | null = null;

/**
 * Not undici's global dispatcher: that is a slot on globalThis which whichever copy of undici loads first fills, and
 * Node's bundled copy (7.x in Node 24) fills it as soon as anything touches fetch() or its classes; importing the
 * OpenTelemetry SDK does. Every call then went through Node's bundled undici instead of the undici 8 this project
 * depends on. This Agent is always the dependency's own: one connection pool per origin for the whole process.
 */
export function sharedAgent(): Agent {
  return (shared ??= new Agent());
}
