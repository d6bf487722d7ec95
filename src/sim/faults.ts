// Fault injection: a book of pending FaultSpecs, matched per call by endpoint, session and kind.
import { z } from 'zod';
import { FAULT_KINDS, SIM_ENDPOINTS, type FaultKind, type FaultSpec, type SimEndpoint } from './types.js';

const AUTHED: SimEndpoint[] = SIM_ENDPOINTS.filter((e) => e !== 'anonymous_token' && e !== 'render_result');
const SESSION_ENDPOINTS: SimEndpoint[] = ['claim_token', 'upload', 'run_sse', 'state', 'render_submit'];

/** Where a fault lands when the spec names no endpoint (the kind's "natural" home). */
const NATURAL: Record<FaultKind, readonly SimEndpoint[]> = {
  token_expired: AUTHED,
  session_lost: SESSION_ENDPOINTS,
  rate_limited: SIM_ENDPOINTS,
  server_error: SIM_ENDPOINTS,
  network_drop: SIM_ENDPOINTS,
  slow: SIM_ENDPOINTS,
  no_credits: ['run_sse'],
  export_blocked: ['render_submit'],
  unsupported_file: ['upload'],
  file_too_large: ['upload'],
  stream_drop: ['run_sse'],
  run_sse_validation: ['run_sse'],
  stream_error: ['run_sse'],
  stream_error_json: ['run_sse'],
  agent_error_event: ['run_sse'],
  heartbeats_only: ['run_sse'],
  render_failed: ['render_submit'],
  render_duplicate_id: ['render_submit'],
  output_expired: ['render_submit'],
  output_error_page: ['render_submit'],
  output_cut_off: ['render_submit'],
  output_redirect: ['render_submit'],
  ignore_aspect_once: ['run_sse'],
};

/** Kinds whose meaning is tied to one endpoint: an explicit `endpoint` cannot move them elsewhere. */
const PINNED = new Set<FaultKind>([
  'token_expired',
  'unsupported_file',
  'file_too_large',
  'stream_drop',
  'run_sse_validation',
  'stream_error',
  'stream_error_json',
  'agent_error_event',
  'heartbeats_only',
  'render_failed',
  'render_duplicate_id',
  'output_expired',
  'output_error_page',
  'output_cut_off',
  'output_redirect',
  'ignore_aspect_once',
]);

/** Answered at the gateway, before the token is even looked at ('slow' is its own pass so it can precede another fault). */
export const SLOW_KINDS: readonly FaultKind[] = ['slow'];
export const GATEWAY_KINDS: readonly FaultKind[] = ['rate_limited', 'server_error', 'network_drop'];
/** Taken by the run_sse handler once the message is classified: they only match generations. */
export const RUN_KINDS: readonly FaultKind[] = ['ignore_aspect_once'];
/** Looked at once the token is known good; some are answered in the hook, the rest by the route handler. */
export const ROUTE_KINDS: readonly FaultKind[] = FAULT_KINDS.filter(
  (k) => !SLOW_KINDS.includes(k) && !GATEWAY_KINDS.includes(k) && !RUN_KINDS.includes(k),
);

export const faultSpecSchema = z
  .object({
    kind: z.enum(FAULT_KINDS),
    endpoint: z.enum(SIM_ENDPOINTS).optional(),
    sessionId: z.string().min(1).optional(),
    times: z.number().int().min(1).optional(),
    after: z.number().int().min(0).optional(),
    retryAfterSec: z.number().int().min(0).nullable().optional(),
    retryAfterForm: z.enum(['seconds', 'date']).optional(),
    delayMs: z.number().min(0).optional(),
    status: z.number().int().min(100).max(599).optional(),
    form: z.enum(['html', 'json']).optional(),
    errorCode: z.enum(['MALFORMED_FUNCTION_CALL', 'SAFETY']).optional(),
    multiline: z.boolean().optional(),
  })
  .strict()
  // A field another kind would ignore is refused, so a test cannot believe it chose something it did not.
  .refine((f) => f.form === undefined || f.kind === 'server_error', { message: 'form: server_error only', path: ['form'] })
  .refine((f) => f.retryAfterForm === undefined || f.kind === 'rate_limited', { message: 'retryAfterForm: rate_limited only', path: ['retryAfterForm'] })
  .refine((f) => f.multiline === undefined || f.kind === 'stream_error', { message: 'multiline: stream_error only', path: ['multiline'] })
  .refine((f) => f.errorCode === undefined || f.kind === 'agent_error_event', {
    message: 'errorCode: agent_error_event only',
    path: ['errorCode'],
  })
  .refine((f) => f.kind !== 'output_expired' || f.status === undefined || [403, 404, 410].includes(f.status), {
    message: 'output_expired: status must be 403, 404 or 410',
    path: ['status'],
  });

interface Pending {
  spec: FaultSpec;
  skip: number;
  left: number;
}

export interface FaultCall {
  endpoint: SimEndpoint;
  sessionId?: string | undefined;
}

export class FaultBook {
  private pending: Pending[] = [];

  inject(spec: FaultSpec): void {
    const parsed = faultSpecSchema.parse(spec) as FaultSpec;
    this.pending.push({ spec: parsed, skip: parsed.after ?? 0, left: parsed.times ?? 1 });
  }

  clear(): void {
    this.pending = [];
  }

  list(): FaultSpec[] {
    return this.pending.map((p) => ({ ...p.spec, times: p.left, after: p.skip }));
  }

  /**
   * The first pending fault of one of `kinds` that matches this call, consumed by one use.
   * Every matching spec counts the call towards its `after`, even when an earlier spec fires, so
   * "after: N" means "the N+1-th matching call" regardless of other faults. Callers use disjoint
   * `kinds` per pass so no spec sees the same call twice.
   */
  take(call: FaultCall, kinds: readonly FaultKind[]): FaultSpec | undefined {
    let hit: Pending | undefined;
    for (const p of this.pending) {
      if (!kinds.includes(p.spec.kind) || !matches(p.spec, call)) continue;
      if (p.skip > 0) {
        p.skip--;
        continue;
      }
      if (!hit) hit = p;
    }
    if (!hit) return undefined;
    hit.left--;
    if (hit.left <= 0) this.pending = this.pending.filter((p) => p !== hit);
    return hit.spec;
  }
}

function matches(spec: FaultSpec, call: FaultCall): boolean {
  if (spec.sessionId !== undefined && spec.sessionId !== call.sessionId) return false;
  const natural = NATURAL[spec.kind];
  if (spec.endpoint === undefined) return natural.includes(call.endpoint);
  if (spec.endpoint !== call.endpoint) return false;
  return !PINNED.has(spec.kind) || natural.includes(call.endpoint);
}
