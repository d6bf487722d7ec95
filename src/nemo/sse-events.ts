// Maps one /run_sse `data:` payload to AgentEvents: ADK events in either casing, v4.4 typed events, keep-alives, broken error JSON (§3).
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { scrubSecrets } from '../observability/logger.js';

export type AgentEvent =
  | { kind: 'text'; text: string; partial: boolean; author?: string }
  | { kind: 'tool_call'; name: string; id?: string }
  /** `stateless`: a typed (v4.4) result, which never carries the state it changed (ADK results carry a stateDelta). */
  | { kind: 'tool_result'; name: string; id?: string; status?: string; stateless?: true }
  | { kind: 'heartbeat' }
  | { kind: 'error'; message: string; code?: string }
  | { kind: 'state_delta'; keys: string[]; values: Record<string, unknown> }
  | { kind: 'unknown'; raw: string };

const str = z.string().nullish().catch(null);
const strOrNum = z.union([z.string(), z.number().transform(String)]).nullish().catch(null);
const dict = z.record(z.string(), z.unknown()).nullish().catch(null);

const functionCallSchema = z.looseObject({ name: z.string().min(1), id: str });
const functionResponseSchema = z.looseObject({ name: z.string().min(1), id: str, response: z.unknown().optional() });

/** genai Part (§3), camelCase or snake_case; parts are parsed one by one so one odd part never hides the rest. */
const partSchema = z.looseObject({
  text: str,
  thought: z.boolean().nullish().catch(null),
  functionCall: functionCallSchema.nullish().catch(null),
  function_call: functionCallSchema.nullish().catch(null),
  functionResponse: functionResponseSchema.nullish().catch(null),
  function_response: functionResponseSchema.nullish().catch(null),
});

const adkEventSchema = z.looseObject({
  id: strOrNum,
  author: str,
  partial: z.boolean().nullish().catch(null),
  content: z.looseObject({ role: str, parts: z.array(z.unknown()).nullish().catch(null) }).nullish().catch(null),
  errorCode: strOrNum,
  error_code: strOrNum,
  errorMessage: str,
  error_message: str,
  actions: z
    .looseObject({ stateDelta: dict, state_delta: dict, artifactDelta: dict, artifact_delta: dict })
    .nullish()
    .catch(null),
});

const typedEventSchema = z.looseObject({
  type: z.string(),
  content: z.unknown().optional(),
  text: str,
  name: str,
  id: strOrNum,
  result: z.unknown().optional(),
  message: str,
  error: z.unknown().optional(),
  code: strOrNum,
  partial: z.boolean().nullish().catch(null),
});

const ADK_MARKERS = [
  'content', 'actions', 'author', 'invocationId', 'invocation_id', 'errorCode', 'error_code',
  'errorMessage', 'error_message', 'turnComplete', 'turn_complete', 'longRunningToolIds', 'long_running_tool_ids',
];
const KEEPALIVE_WORDS = /^(heartbeat|ping|keep-?alive|keep_alive)$/i;
/**
 * Old ADK built `{"error": "<str(e)>"}` with an f-string, so quotes inside the message break the JSON (§3), and a
 * message over several lines (a validation error, a traceback) leaves only its first line a `data:` line: the
 * closing `"}` is then missing, and the rest of the text is lost with the lines the SSE parser drops.
 */
const BROKEN_ERROR = /^\{\s*"error"\s*:\s*"([\s\S]*?)("\s*\})?$/;
const MAX_RAW = 500;

function unknown(raw: string): AgentEvent {
  return { kind: 'unknown', raw: scrubSecrets(raw.length > MAX_RAW ? `${raw.slice(0, MAX_RAW)}…` : raw) };
}

function errorEvent(message: string, code?: string | null): AgentEvent {
  const e: AgentEvent = { kind: 'error', message: scrubSecrets(message || code || 'agent error') };
  if (code) e.code = code;
  return e;
}

function errorText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const m = (value as Record<string, unknown>).message;
    if (typeof m === 'string') return m;
  }
  return value === undefined || value === null ? '' : JSON.stringify(value);
}

function resultStatus(result: unknown): string | undefined {
  if (!result || typeof result !== 'object') return undefined;
  const r = result as Record<string, unknown>;
  if (typeof r.status === 'string') return r.status;
  if (r.error !== undefined && r.error !== null) return 'error';
  return undefined;
}

function toolCall(name: string, id: string | null | undefined): AgentEvent {
  return id ? { kind: 'tool_call', name, id } : { kind: 'tool_call', name };
}

function toolResult(name: string, id: string | null | undefined, result: unknown, stateless: boolean): AgentEvent {
  const ev: Extract<AgentEvent, { kind: 'tool_result' }> = id ? { kind: 'tool_result', name, id } : { kind: 'tool_result', name };
  const status = resultStatus(result);
  if (status) ev.status = status;
  if (stateless) ev.stateless = true;
  return ev;
}

/** ADK Event (§3). `seen` drops an event repeated with the same id and content (no double counting). */
function fromAdk(o: z.infer<typeof adkEventSchema>, seen: Set<string>): AgentEvent[] {
  const out: AgentEvent[] = [];
  const partial = o.partial === true;
  const author = o.author ?? undefined;
  const parts = o.content?.parts ?? [];
  // The key is a digest: a long run keeps one per event, and whole part lists (texts, tool args) would pile up.
  const key = o.id && parts.length > 0 ? createHash('sha256').update(`${o.id}|${partial}|${JSON.stringify(parts)}`).digest('base64') : null;
  const duplicate = key !== null && seen.has(key);
  if (key !== null) seen.add(key);
  if (!duplicate) {
    for (const rawPart of parts) {
      const p = partSchema.safeParse(rawPart);
      if (!p.success) continue;
      const part = p.data;
      const call = part.functionCall ?? part.function_call;
      const response = part.functionResponse ?? part.function_response;
      if (call) out.push(toolCall(call.name, call.id));
      // A tool result arrives as content.role "user" from the agent's author (§3): still a tool result.
      if (response) out.push(toolResult(response.name, response.id, response.response, false));
      // Thought parts are the model's reasoning, not user-facing; the user's own echo is not agent output.
      if (part.text && part.thought !== true && author !== 'user') {
        const ev: AgentEvent = { kind: 'text', text: part.text, partial };
        if (author) ev.author = author;
        out.push(ev);
      }
    }
  }
  const code = o.errorCode ?? o.error_code;
  const message = o.errorMessage ?? o.error_message;
  if (code || message) out.push(errorEvent(message ?? '', code));
  const a = o.actions;
  const values = a?.stateDelta ?? a?.state_delta ?? {};
  const keys = [...Object.keys(values), ...Object.keys(a?.artifactDelta ?? a?.artifact_delta ?? {}).map((k) => `artifact:${k}`)];
  // The values are kept: applied to what the relay knows of the session state, they spare a /state read (flow/known-state.ts).
  if (keys.length > 0) out.push({ kind: 'state_delta', keys, values });
  return out;
}

/** The v4.4 illustrative events `{type:"text"|"tool_call"|"tool_result"|"heartbeat"}` (§3). */
function fromTyped(o: z.infer<typeof typedEventSchema>, raw: string): AgentEvent[] {
  const type = o.type.toLowerCase();
  if (KEEPALIVE_WORDS.test(type)) return [{ kind: 'heartbeat' }];
  if (type === 'text') {
    const text = typeof o.content === 'string' ? o.content : (o.text ?? '');
    return text ? [{ kind: 'text', text, partial: o.partial === true }] : [];
  }
  if ((type === 'tool_call' || type === 'function_call') && o.name) return [toolCall(o.name, o.id)];
  if ((type === 'tool_result' || type === 'function_response') && o.name) return [toolResult(o.name, o.id, o.result, true)];
  if (type === 'error') return [errorEvent(o.message ?? errorText(o.error ?? o.content), o.code)];
  return [unknown(raw)];
}

/** Decodes one SSE message's data (already joined by eventsource-parser). `sseEvent` is the optional `event:` field. */
export function decodeData(data: string, seen: Set<string>, sseEvent?: string): AgentEvent[] {
  const trimmed = data.trim();
  // NemoVideo keep-alives: empty `data:` or a bare `heartbeat` (§3).
  if (trimmed === '' || KEEPALIVE_WORDS.test(trimmed)) return [{ kind: 'heartbeat' }];
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    const broken = BROKEN_ERROR.exec(trimmed);
    if (broken) return [errorEvent(broken[2] ? (broken[1] ?? '') : `${broken[1] ?? ''}…`)];
    return sseEvent === 'error' ? [errorEvent(trimmed)] : [unknown(data)];
  }
  if (typeof value === 'string' && KEEPALIVE_WORDS.test(value.trim())) return [{ kind: 'heartbeat' }];
  if (!value || typeof value !== 'object' || Array.isArray(value)) return [unknown(data)];
  const o = value as Record<string, unknown>;
  // `data: {"error": "…"}` is what ADK emits when the run generator raises; the stream closes next (§3).
  if (o.error !== undefined && o.error !== null && o.content === undefined && typeof o.type !== 'string') {
    return [errorEvent(errorText(o.error))];
  }
  // ADK events have no top-level `type`; the v4.4 typed events always do (and reuse `content` for a string).
  if (typeof o.type === 'string') {
    const typed = typedEventSchema.safeParse(o);
    return typed.success ? fromTyped(typed.data, data) : [unknown(data)];
  }
  if (ADK_MARKERS.some((k) => k in o)) {
    const adk = adkEventSchema.safeParse(o);
    return adk.success ? fromAdk(adk.data, seen) : [unknown(data)];
  }
  return [unknown(data)];
}
