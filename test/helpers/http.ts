// Raw HTTP calls for API tests that need bodies the stack helper does not build (multipart, odd headers, raw bytes).
import { request } from 'undici';
import { TENANTS } from './stack.js';

export interface RawResponse<T = unknown> {
  status: number;
  body: T;
  text: string;
  headers: Record<string, string | string[] | undefined>;
}

export async function send<T = unknown>(
  baseUrl: string,
  method: string,
  path: string,
  opts: { body?: Buffer | string; contentType?: string; key?: string | null; headers?: Record<string, string> } = {},
): Promise<RawResponse<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.key !== null) headers.authorization = `Bearer ${opts.key ?? TENANTS.acme}`;
  if (opts.contentType) headers['content-type'] = opts.contentType;
  const res = await request(baseUrl + path, { method: method as 'POST', headers, body: opts.body });
  const text = await res.body.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.statusCode, body: body as T, text, headers: res.headers };
}
