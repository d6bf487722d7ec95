// ADK event construction and wire formatting: camel/snake casing, v4.4 typed events, split artifact events.
import { newEventId } from './ids.js';

export interface AdkPart {
  text?: string;
  /** The text is the model's reasoning (a thought summary), not an answer. */
  thought?: boolean;
  /** Opaque (base64) signature Gemini attaches to a part after thinking, typically the function call. */
  thoughtSignature?: string;
  functionCall?: { id: string; name: string; args: Record<string, unknown> };
  functionResponse?: { id: string; name: string; response: Record<string, unknown> };
  inlineData?: { mimeType: string; data: string };
}

export interface AdkEvent {
  content?: { parts: AdkPart[]; role: 'model' | 'user' };
  invocationId: string;
  author: string;
  actions: AdkActions;
  longRunningToolIds?: string[];
  partial?: boolean;
  turnComplete?: boolean;
  finishReason?: string;
  errorCode?: string;
  errorMessage?: string;
  interrupted?: boolean;
  customMetadata?: Record<string, unknown>;
  usageMetadata?: { promptTokenCount: number; candidatesTokenCount: number; totalTokenCount: number };
  modelVersion?: string;
  branch?: string;
  id: string;
  timestamp: number;
}

export interface AdkActions {
  stateDelta: Record<string, unknown>;
  artifactDelta: Record<string, number>;
  requestedAuthConfigs: Record<string, unknown>;
  skipSummarization?: boolean;
  transferToAgent?: string;
  escalate?: boolean;
}

export interface FormatOptions {
  casing: 'camel' | 'snake';
  style: 'adk' | 'typed';
  split: boolean;
}

export const AGENT_NAME = 'nemo_agent';

export function makeEvent(invocationId: string, legacy: boolean, fields: Partial<AdkEvent>): AdkEvent {
  return {
    invocationId,
    author: AGENT_NAME,
    actions: { stateDelta: {}, artifactDelta: {}, requestedAuthConfigs: {} },
    id: newEventId(legacy),
    timestamp: Date.now() / 1000,
    ...fields,
  };
}

/** The text of an event's answer parts, joined (thought parts are reasoning, not text the user sees). */
export function textOf(ev: AdkEvent): string {
  return (ev.content?.parts ?? []).map((p) => (p.thought === true ? '' : (p.text ?? ''))).join('');
}

/** Newer ADK: content + delta → a content event with empty deltas, then a content-less actions event. */
function splitEvent(ev: AdkEvent): AdkEvent[] {
  const hasDelta = Object.keys(ev.actions.stateDelta).length > 0 || Object.keys(ev.actions.artifactDelta).length > 0;
  if (!ev.content || !hasDelta) return [ev];
  const { content: _content, ...rest } = ev;
  return [
    { ...ev, actions: { stateDelta: {}, artifactDelta: {}, requestedAuthConfigs: {} } },
    { ...rest, id: newEventId(ev.id.length === 8), timestamp: ev.timestamp + 0.001 },
  ];
}

const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function renameKeys(obj: Record<string, unknown>, keep: Set<string> = new Set()): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) out[keep.has(k) ? k : snake(k)] = v;
  return out;
}

/** genai's own keys inside a part change too (inline_data.mime_type); call args and responses are payload. */
function snakePart(p: AdkPart): Record<string, unknown> {
  const out = renameKeys(p as Record<string, unknown>);
  if (p.inlineData) out.inline_data = renameKeys(p.inlineData);
  return out;
}

/**
 * Pre-1.0 ADK field names. Only ADK's own keys change: the payloads (state delta values, tool args and
 * responses) are application data and keep their names.
 */
function toSnake(ev: AdkEvent): Record<string, unknown> {
  const out = renameKeys(ev as unknown as Record<string, unknown>);
  out.actions = renameKeys(ev.actions as unknown as Record<string, unknown>);
  if (ev.usageMetadata) out.usage_metadata = renameKeys(ev.usageMetadata as unknown as Record<string, unknown>);
  if (ev.content) {
    out.content = { role: ev.content.role, parts: ev.content.parts.map(snakePart) };
  }
  return out;
}

/** v4.4's simplified events; an actions-only event has no typed form and disappears. */
function toTyped(ev: AdkEvent): Record<string, unknown>[] {
  if (ev.errorCode) return [{ type: 'error', code: ev.errorCode, content: ev.errorMessage ?? '' }];
  const out: Record<string, unknown>[] = [];
  for (const p of ev.content?.parts ?? []) {
    if (p.text !== undefined && p.thought !== true) out.push({ type: 'text', content: p.text, ...(ev.partial ? { partial: true } : {}) });
    if (p.functionCall) out.push({ type: 'tool_call', name: p.functionCall.name, args: p.functionCall.args });
    if (p.functionResponse) out.push({ type: 'tool_result', name: p.functionResponse.name, result: p.functionResponse.response });
  }
  return out;
}

/** pydantic dumps fields in declaration order: content and flags first, bookkeeping last (see protocol §3.1). */
const ORDER = [
  'content', 'partial', 'turnComplete', 'finishReason', 'errorCode', 'errorMessage', 'interrupted', 'customMetadata', 'usageMetadata',
  'modelVersion', 'invocationId', 'author', 'actions', 'longRunningToolIds', 'branch', 'id', 'timestamp',
];

function ordered(ev: AdkEvent): AdkEvent {
  const src = ev as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of ORDER) if (src[k] !== undefined) out[k] = src[k];
  return out as unknown as AdkEvent;
}

/** One logical event → the JSON payloads of its `data:` lines, in order. */
export function formatEvent(ev: AdkEvent, opts: FormatOptions): string[] {
  const events = (opts.split ? splitEvent(ev) : [ev]).map(ordered);
  const out: string[] = [];
  for (const e of events) {
    if (opts.style === 'typed') {
      for (const t of toTyped(e)) out.push(JSON.stringify(opts.casing === 'snake' ? renameKeys(t) : t));
    } else {
      out.push(JSON.stringify(opts.casing === 'snake' ? toSnake(e) : e));
    }
  }
  return out;
}

/** streaming:true — the text split into a few `partial:true` chunks (text parts only), sent before the full event. */
export function partialChunks(ev: AdkEvent): AdkEvent[] {
  const text = textOf(ev);
  if (!text) return [];
  const words = text.split(/(?<=\s)/);
  const per = Math.max(1, Math.ceil(words.length / 3));
  const chunks: AdkEvent[] = [];
  // A chunk is not the end of the turn and has no finish reason yet: only the aggregated event does.
  const { usageMetadata: _u, longRunningToolIds: _l, turnComplete: _t, finishReason: _f, ...base } = ev;
  for (let i = 0; i < words.length; i += per) {
    chunks.push({
      ...base,
      content: { role: 'model', parts: [{ text: words.slice(i, i + per).join('') }] },
      actions: { stateDelta: {}, artifactDelta: {}, requestedAuthConfigs: {} },
      partial: true,
      // Same id style as the parent: 8-char ids mark the legacy (snake-era) ADK.
      id: newEventId(ev.id.length === 8),
    });
  }
  return chunks;
}
