// `nemo-relay tenants …`: the operator's tenant administration over /admin/tenants, with the admin key.
import { z } from 'zod';
import { ApiClient } from './api-client.js';
import { parseCommand } from './args.js';
import { CliError, connection, EXIT, type CliIo } from './io.js';

const OPTIONS = {
  'admin-key': { type: 'string' },
  'max-concurrent': { type: 'string' },
  'rate-limit': { type: 'string' },
  'retention-ms': { type: 'string' },
  weight: { type: 'string' },
  'upstream-token': { type: 'string' },
  'upstream-token-stdin': { type: 'boolean' },
  anonymous: { type: 'boolean' },
  'default-upstream': { type: 'boolean' },
  json: { type: 'boolean' },
  limit: { type: 'string' },
  cursor: { type: 'string' },
} as const;

type Values = ReturnType<typeof parseCommand<typeof OPTIONS>>['values'];

const tenantSchema = z.looseObject({
  id: z.string(),
  max_concurrent_jobs: z.number().nullable(),
  rate_limit_per_min: z.number().nullable(),
  weight: z.number(),
  upstream: z.looseObject({ kind: z.string() }),
  bootstrap: z.boolean(),
});
const errorSchema = z.object({ code: z.string(), message: z.string() });

/** Every subcommand: its positional arguments and what it does with the admin API. */
const SUBCOMMANDS: Record<string, { args: string[]; run: (admin: AdminApi, args: string[], values: Values, io: CliIo) => Promise<number> }> = {
  list: { args: [], run: list },
  get: { args: ['id'], run: async (admin, [id], _v, io) => print(io, await admin.call('GET', tenantPath(id!))) },
  create: { args: ['id'], run: async (admin, [id], v, io) => print(io, await admin.call('POST', '/admin/tenants', { id, ...(await settingsFrom(v, io)) })) },
  update: { args: ['id'], run: async (admin, [id], v, io) => print(io, await admin.call('PATCH', tenantPath(id!), await settingsFrom(v, io))) },
  delete: { args: ['id'], run: async (admin, [id], _v, io) => print(io, await admin.call('DELETE', tenantPath(id!))) },
  keys: { args: ['id'], run: keys },
  'key-create': {
    args: ['id'],
    run: async (admin, [id], _v, io) => {
      const issued = await admin.call('POST', `${tenantPath(id!)}/keys`);
      io.stderr.write('the key is shown this once: store it now (only its SHA-256 is kept)\n');
      return print(io, issued);
    },
  },
  'key-revoke': {
    args: ['id', 'key_id'],
    run: async (admin, [id, keyId], _v, io) => {
      await admin.call('DELETE', `${tenantPath(id!)}/keys/${encodeURIComponent(keyId!)}`);
      io.stdout.write(`revoked ${keyId}\n`);
      return EXIT.ok;
    },
  },
  reseal: {
    args: [],
    run: async (admin, _a, _v, io) => {
      const report = z.object({ unreadable: z.array(z.string()) }).loose().parse(await admin.call('POST', '/admin/secrets/reseal'));
      print(io, report);
      // Tokens no configured key opens: the operator has to act (exit 1 like a failed check).
      return report.unreadable.length > 0 ? EXIT.failed : EXIT.ok;
    },
  },
};

export async function tenantsCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, OPTIONS);
  const [sub, ...args] = positionals;
  const spec = sub ? SUBCOMMANDS[sub] : undefined;
  if (!spec) throw new CliError(`tenants needs a subcommand: ${Object.keys(SUBCOMMANDS).join(', ')}`);
  if (args.length !== spec.args.length) {
    throw new CliError(`tenants ${sub} takes ${spec.args.length ? spec.args.map((a) => `<${a}>`).join(' ') : 'no arguments'}`);
  }
  const { url, key, timeoutMs } = connection(io, { url: values.url, key: values['admin-key'] }, { flag: '--admin-key', env: 'NEMO_RELAY_ADMIN_KEY' });
  if (!key) throw new CliError('tenants needs the admin key: --admin-key or NEMO_RELAY_ADMIN_KEY');
  return spec.run(new AdminApi(new ApiClient(url, key, { timeoutMs })), args, values, io);
}

/** The admin API: an answer the API refused (4xx) is exit status 1 with its code; a server error or no answer is 2. */
class AdminApi {
  constructor(private readonly client: ApiClient) {}

  async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const res = await this.client.fetch(path, {
      method,
      headers: this.client.headers(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = text;
    }
    if (res.ok) return data;
    const err = errorSchema.safeParse(data);
    // A 5xx (or a proxy's 502-504 page) is no verdict on the command, only the API failing: 2, as for other commands.
    throw new CliError(err.success ? `${err.data.code}: ${err.data.message}` : `HTTP ${res.status} from ${method} ${path}`, res.status >= 500 ? EXIT.usage : EXIT.failed);
  }
}

async function list(admin: AdminApi, _args: string[], values: Values, io: CliIo): Promise<number> {
  const query = new URLSearchParams();
  if (values.limit) query.set('limit', values.limit);
  if (values.cursor) query.set('cursor', values.cursor);
  const page = z
    .object({ data: z.array(tenantSchema), next_cursor: z.string().nullable() })
    .parse(await admin.call('GET', `/admin/tenants${query.size ? `?${query}` : ''}`));
  if (values.json) return print(io, page);
  const show = (n: number | null) => (n === null ? '-' : String(n));
  io.stdout.write(`${['id', 'rate/min', 'max jobs', 'weight', 'upstream'].join('\t')}\n`);
  for (const t of page.data) {
    io.stdout.write(`${[t.id, show(t.rate_limit_per_min), show(t.max_concurrent_jobs), String(t.weight), t.upstream.kind + (t.bootstrap ? ' (API_KEYS)' : '')].join('\t')}\n`);
  }
  if (page.next_cursor) io.stderr.write(`more: --cursor ${page.next_cursor}\n`);
  return EXIT.ok;
}

async function keys(admin: AdminApi, [id]: string[], values: Values, io: CliIo): Promise<number> {
  const answer = z
    .object({ data: z.array(z.object({ id: z.string(), prefix: z.string(), created_at: z.string() })), bootstrap: z.boolean() })
    .parse(await admin.call('GET', `${tenantPath(id!)}/keys`));
  if (values.json) return print(io, answer);
  for (const k of answer.data) io.stdout.write(`${k.id}\t${k.prefix}…\t${k.created_at}\n`);
  if (answer.bootstrap) io.stderr.write(`${id} also has keys in API_KEYS: configuration, not listed or revocable here\n`);
  return EXIT.ok;
}

/** The settings options as a request body: `none` resets a number to the service default (null). */
async function settingsFrom(values: Values, io: CliIo): Promise<Record<string, unknown>> {
  const body: Record<string, unknown> = {};
  const number = (flag: keyof Values, field: string, integer: boolean) => {
    const raw = values[flag];
    if (typeof raw !== 'string') return;
    if (raw === 'none') return void (body[field] = null);
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) throw new CliError(`--${flag} must be ${integer ? 'an integer' : 'a number'} or none`);
    body[field] = n;
  };
  number('max-concurrent', 'max_concurrent_jobs', true);
  number('rate-limit', 'rate_limit_per_min', true);
  number('retention-ms', 'retention_ms', true);
  number('weight', 'weight', false);
  const upstreams = [values['upstream-token'] !== undefined, values['upstream-token-stdin'], values.anonymous, values['default-upstream']].filter(Boolean);
  if (upstreams.length > 1) throw new CliError('choose one of --upstream-token, --upstream-token-stdin, --anonymous, --default-upstream');
  if (values['upstream-token'] !== undefined) body.upstream = { token: values['upstream-token'] };
  // From stdin, the token stays out of the process list and the shell history.
  if (values['upstream-token-stdin']) body.upstream = { token: await readToken(io) };
  if (values.anonymous) body.upstream = { anonymous: true };
  if (values['default-upstream']) body.upstream = { default: true };
  return body;
}

async function readToken(io: CliIo): Promise<string> {
  let text = '';
  for await (const chunk of io.stdin) text += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
  const token = text.trim();
  if (!token) throw new CliError('--upstream-token-stdin: nothing on stdin');
  return token;
}

const tenantPath = (id: string) => `/admin/tenants/${encodeURIComponent(id)}`;

function print(io: CliIo, value: unknown): number {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  return EXIT.ok;
}
