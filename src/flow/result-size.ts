// The rendered file's size when the poll answer did not say: a HEAD request, best effort.
import { request, type Dispatcher } from 'undici';

/** `dispatcher`: the flow's outputFetch (a URL off the upstream's origin goes through the SSRF guard). */
export async function probeSize(url: string, dispatcher: Dispatcher, timeoutMs = 5_000): Promise<number | null> {
  try {
    const res = await request(url, { method: 'HEAD', signal: AbortSignal.timeout(timeoutMs), dispatcher });
    await res.body.dump();
    const length = Number(res.headers['content-length']);
    return res.statusCode < 300 && Number.isFinite(length) && length > 0 ? length : null;
  } catch {
    return null;
  }
}
