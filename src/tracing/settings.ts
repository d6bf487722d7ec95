// The standard OTEL_* variables, validated with zod in this one place: tracing is on only when an OTLP endpoint is set.
import { z } from 'zod';

export const DEFAULT_SERVICE_NAME = 'nemo-relay';
export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json'] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

export type TracingSettings =
  | { enabled: false }
  | {
      enabled: true;
      /** Where spans are POSTed: the traces endpoint as given, or the generic endpoint + /v1/traces (OTLP spec). */
      tracesUrl: string;
      protocol: OtlpProtocol;
      serviceName: string;
    };

/** The spec's boolean: "true" in any case is true, anything else false. */
const specBool = z.string().transform((v) => v.toLowerCase() === 'true');
const otlpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL, e.g. http://localhost:4318' });
const isProtocol = (value: string): value is OtlpProtocol => (OTLP_PROTOCOLS as readonly string[]).includes(value);
const protocolProblem = (value: string) =>
  value === 'grpc'
    ? 'grpc is not supported by nemo-relay; use http/protobuf (OTLP port 4318, the default) or http/json'
    : `must be ${OTLP_PROTOCOLS.join(' or ')}`;

/**
 * The OTEL_* part of the environment. The SDK itself reads the rest of the standard variables it knows
 * (OTEL_TRACES_SAMPLER/_ARG, OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_HEADERS/_TIMEOUT, OTEL_BSP_*, OTEL_PROPAGATORS).
 */
export const tracingEnvShape = {
  OTEL_SDK_DISABLED: specBool.default(false),
  OTEL_TRACES_EXPORTER: z.enum(['otlp', 'none'], { error: 'must be otlp or none' }).default('otlp'),
  OTEL_EXPORTER_OTLP_ENDPOINT: otlpUrl.optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: otlpUrl.optional(),
  // Checked only when tracing is on (see tracingEnvRefine): a protocol set for other services does not stop this one.
  OTEL_EXPORTER_OTLP_PROTOCOL: z.string().optional(),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: z.string().optional(),
  OTEL_SERVICE_NAME: z.string().min(1).max(128).default(DEFAULT_SERVICE_NAME),
  // Read by the SDK, which ignores a value it does not know (and samples everything): checked when tracing is on.
  OTEL_TRACES_SAMPLER: z.string().optional(),
  OTEL_TRACES_SAMPLER_ARG: z.string().optional(),
};

/** The samplers the SDK knows (OpenTelemetry's environment variable specification). */
export const TRACE_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

export type TracingEnv = z.infer<z.ZodObject<typeof tracingEnvShape>>;

/** The protocol that applies (the traces-specific variable wins), refused unless it is one the exporters here speak. */
export function tracingEnvRefine(env: TracingEnv, ctx: z.RefinementCtx): void {
  if (!isOn(env)) return;
  samplerRefine(env, ctx);
  for (const name of ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL'] as const) {
    const value = env[name];
    if (value === undefined) continue;
    if (!isProtocol(value)) ctx.addIssue({ code: 'custom', path: [name], message: protocolProblem(value) });
    return;
  }
}

/** A mistyped sampler (or ratio) made the SDK sample everything without a word: refused instead. */
function samplerRefine(env: TracingEnv, ctx: z.RefinementCtx): void {
  const sampler = env.OTEL_TRACES_SAMPLER;
  if (sampler !== undefined && !(TRACE_SAMPLERS as readonly string[]).includes(sampler)) {
    ctx.addIssue({ code: 'custom', path: ['OTEL_TRACES_SAMPLER'], message: `must be one of ${TRACE_SAMPLERS.join(', ')}` });
  }
  const arg = env.OTEL_TRACES_SAMPLER_ARG;
  if (arg !== undefined && sampler?.endsWith('traceidratio')) {
    const ratio = arg.trim() === '' ? NaN : Number(arg);
    if (!(ratio >= 0 && ratio <= 1)) ctx.addIssue({ code: 'custom', path: ['OTEL_TRACES_SAMPLER_ARG'], message: 'must be a ratio from 0 to 1 for a traceidratio sampler' });
  }
}

const tracingEnvSchema = z.object(tracingEnvShape).superRefine(tracingEnvRefine);

export class TracingConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid tracing configuration:\n${problems.join('\n')}`);
    this.name = 'TracingConfigError';
  }
}

/** The traces URL per the OTLP exporter spec: the signal-specific variable is used as is, the generic one gets /v1/traces. */
export function tracesUrlFrom(env: Pick<TracingEnv, 'OTEL_EXPORTER_OTLP_ENDPOINT' | 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'>): string | null {
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (env.OTEL_EXPORTER_OTLP_ENDPOINT) return `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`;
  return null;
}

function isOn(env: TracingEnv): boolean {
  return !env.OTEL_SDK_DISABLED && env.OTEL_TRACES_EXPORTER !== 'none' && tracesUrlFrom(env) !== null;
}

/** From an environment validated with tracingEnvShape and tracingEnvRefine. */
export function tracingSettingsFrom(env: TracingEnv): TracingSettings {
  const tracesUrl = tracesUrlFrom(env);
  if (!isOn(env) || tracesUrl === null) return { enabled: false };
  const protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf';
  return { enabled: true, tracesUrl, protocol: isProtocol(protocol) ? protocol : 'http/protobuf', serviceName: env.OTEL_SERVICE_NAME };
}

/** Parses only the OTEL_* variables of `env` (empty counts as unset); throws TracingConfigError, one line per problem. */
export function parseTracingSettings(env: Record<string, string | undefined>): TracingSettings {
  const picked = Object.fromEntries(
    Object.keys(tracingEnvShape)
      .map((name) => [name, env[name]?.trim()] as const)
      .filter(([, value]) => value !== undefined && value !== ''),
  );
  const parsed = tracingEnvSchema.safeParse(picked);
  if (!parsed.success) {
    throw new TracingConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`));
  }
  return tracingSettingsFrom(parsed.data);
}
