// Lua scripts by SHA: EVALSHA sends 40 bytes instead of the whole script on every call, EVAL only when Redis lost it.
import { createHash } from 'node:crypto';
import type { RedisClient } from './client.js';

export interface LuaScript {
  readonly source: string;
  readonly sha: string;
}

export function luaScript(source: string): LuaScript {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

export async function runScript(redis: RedisClient, script: LuaScript, numKeys: number, ...args: (string | number)[]): Promise<unknown> {
  try {
    return await redis.evalsha(script.sha, numKeys, ...args);
  } catch (err) {
    if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err;
    return redis.eval(script.source, numKeys, ...args);
  }
}
