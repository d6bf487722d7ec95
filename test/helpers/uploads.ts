// Uploads a file through the public API (POST /v1/uploads, multipart) and answers its upload id.
import { request } from 'undici';
import { multipart } from './multipart.js';
import { TENANTS, type Stack } from './stack.js';

export async function uploadFile(stack: Pick<Stack, 'apiUrl'>, filename: string, data: Buffer, key: string = TENANTS.acme): Promise<string> {
  const form = multipart([{ name: 'file', filename, data }]);
  const res = await request(`${stack.apiUrl}/v1/uploads`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': form.contentType },
    body: form.body,
  });
  const body = (await res.body.json()) as { id?: string; message?: string };
  if (res.statusCode !== 201 || !body.id) throw new Error(`upload of ${filename} answered ${res.statusCode}: ${body.message ?? ''}`);
  return body.id;
}
