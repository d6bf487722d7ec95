// The rendered file's size when the poll answer did not say: a HEAD request, best effort.
import { request } from 'undici';
import { sharedAgent } from '../core/http-agent.js';

export async function probeSize(url: string, timeoutMs = 5_000): Promise<number | null> {
  try {
    const res = await request(url, { method: 'HEAD', signal: AbortSignal.timeout(timeoutMs), dispatcher: sharedAgent() });
    await res.body.dump();
    const length = Number(res.headers['content-length']);
    return res.statusCode < 300 && Number.isFinite(length) && length > 0 ? length : null;
  } catch {
    return null;
  }
}
