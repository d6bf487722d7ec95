// The console's request as shell commands: one curl per file upload, then the job; the key stays an environment variable.
import type { CreateJobBody } from './job-request.js';

/** A word for a POSIX shell: single quotes, with each ' written as '\''. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/** What the job body shows for a file whose upload has not finished yet. */
export function pendingUploadId(name: string): string {
  return `<upload id of ${name}>`;
}

/**
 * `body` is the job exactly as the console sends it (its upload sources are the files' ids, or pendingUploadId
 * placeholders until they are known), so the commands read in order: upload, note the id, create. `actAs`: the tenant
 * the operator's key works for (the console sends X-Tenant; without it the admin key is refused on /v1).
 */
export function curlCommands(origin: string, body: CreateJobBody, fileNames: readonly string[], actAs: string | null = null): string {
  const tenant = actAs ? ` \\\n  -H ${shellQuote(`X-Tenant: ${actAs}`)}` : '';
  const AUTH = `-H "Authorization: Bearer $NEMO_RELAY_API_KEY"${tenant}`;
  const lines: string[] = [];
  if (fileNames.length > 0) {
    lines.push('# 1. upload each file (the answer\'s "id" is its upload_id)');
    for (const name of fileNames) {
      // curl's -F treats ; and , specially in a bare filename: the double-quoted form keeps them literal.
      const fileArg = `file=@"${name.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
      lines.push(`curl -sS -X POST ${shellQuote(`${origin}/v1/uploads`)} \\\n  ${AUTH} \\\n  -F ${shellQuote(fileArg)}`);
    }
    lines.push('', '# 2. create the job');
  }
  const json = JSON.stringify(body, null, 2);
  lines.push(`curl -sS -X POST ${shellQuote(`${origin}/v1/jobs`)} \\\n  ${AUTH} \\\n  -H 'Content-Type: application/json' \\\n  --data-raw ${shellQuote(json)}`);
  return lines.join('\n');
}
