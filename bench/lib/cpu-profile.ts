// A V8 CPU profile of this process from start to stop, written as a .cpuprofile: the one implementation every benchmark uses.
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector';

/** One inspector call on `session`, as a promise. */
export const inspectorCall = (session: Session, method: string, params?: object) =>
  new Promise<unknown>((resolve, reject) => session.post(method, params, (err, res) => (err ? reject(err) : resolve(res))));

/**
 * Starts profiling this process (every `intervalUs` µs; V8's default when absent); the returned function stops it and
 * writes the profile to `path`.
 */
export async function startCpuProfile(intervalUs?: number): Promise<(path: string) => Promise<string>> {
  const session = new Session();
  session.connect();
  await inspectorCall(session, 'Profiler.enable');
  if (intervalUs !== undefined) await inspectorCall(session, 'Profiler.setSamplingInterval', { interval: intervalUs });
  await inspectorCall(session, 'Profiler.start');
  return async (path) => {
    try {
      const { profile } = (await inspectorCall(session, 'Profiler.stop')) as { profile: unknown };
      await writeFile(path, JSON.stringify(profile));
      return path;
    } finally {
      session.disconnect();
    }
  };
}
