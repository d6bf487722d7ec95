// Random identifiers in the upstream's observed formats (tokens, session ids, ADK event ids…).
import { randomBytes, randomInt, randomUUID } from 'node:crypto';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function alnum(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += ALNUM[b % ALNUM.length];
  return out;
}

export const newToken = () => `nmv_usr_${alnum(32)}`;
export const newUserId = () => `anon_${alnum(12).toLowerCase()}`;
export const newTaskId = () => `task_${alnum(16)}`;
export const newClaimToken = () => `clm_${alnum(32)}`;

/** A 19-digit numeric string, like the snowflake ids the upstream hands out (kept a string: it exceeds 2^53). */
export function newSessionId(): string {
  let out = String(randomInt(1, 10));
  while (out.length < 19) out += String(randomInt(0, 10));
  return out;
}

/** ADK event ids: 8 alphanumerics in older ADK (snake casing era), UUIDs in newer. */
export const newEventId = (legacy: boolean) => (legacy ? alnum(8) : randomUUID());
export const newInvocationId = () => `e-${randomUUID()}`;
export const newCallId = (legacy: boolean) => `${legacy ? 'af' : 'adk'}-${randomUUID()}`;
