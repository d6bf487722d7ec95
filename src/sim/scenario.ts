// The simulator's behaviour knobs (SimScenario), their defaults and the zod schema for partial updates.
import { z } from 'zod';
import { REQUIREMENT_NAMES, type RequirementName } from './requirements.js';

export type HeartbeatForm = 'json' | 'empty' | 'comment' | 'word' | 'mixed';
/**
 * How /run_sse frames are laid out on the wire, all valid SSE (WHATWG): 'lf' `data: <payload>\n\n`; 'crlf' and 'cr'
 * other line ends; 'compact' no space after `data:`; 'fragmented' each frame written in 5-byte pieces (split inside
 * UTF-8 characters and between CR and LF); 'mixed' rotates through all five per frame.
 */
export type SseFraming = 'lf' | 'crlf' | 'cr' | 'compact' | 'fragmented' | 'mixed';
/** 'adk' raw ADK events, 'typed' v4.4's simplified events, 'mixed' both in one stream (see SimScenario.eventStyle). */
export type EventStyle = 'adk' | 'typed' | 'mixed';
/** The render poll dialects of protocol §2.8 (a, b) and §4 (Remotion's raw getRenderProgress passed through). */
export type RenderShape = 'a' | 'b' | 'remotion';

export interface SimScenario {
  /** 'camel' = ADK ≥ 1.0 (invocationId, stateDelta…); 'snake' = pre-1.0 ADK (invocation_id, state_delta…). */
  eventCasing: 'camel' | 'snake';
  /**
   * 'adk' = raw ADK events; 'typed' = the v4.4 simplified {type:"text"|"tool_call"|"tool_result"} events; 'mixed' = both
   * in one stream (§3: a parser must accept both at once): each logical event is sent whole in one form, alternating
   * per kind within the stream: tool calls, tool results (and error events) start in ADK form, events with only text
   * start typed (a call's ADK event usually carries the lead text), so one generation with music or a title has text,
   * tool calls and tool results in both forms. Partial chunks take their event's form; only ADK-form events carry
   * state deltas. Heartbeats follow `heartbeat` (its default 'json' is v4.4's typed {"type":"heartbeat"}).
   */
  eventStyle: EventStyle;
  heartbeat: HeartbeatForm;
  heartbeatIntervalMs: number;
  /** The wire layout of every frame (events, heartbeats, the hand-built error): see SseFraming. */
  sseFraming: SseFraming;
  /** Newer ADK: an event with content and a state/artifact delta is sent as two events. */
  splitArtifactEvents: boolean;
  /** Append "I encountered a temporary issue…" after otherwise normal output. */
  trailingTemporaryIssue: boolean;
  /** Honour `streaming:true` in the run_sse body with partial text chunks. */
  streamingPartials: boolean;
  /** Draft segments reference /mnt/userdata/<session>/<file> instead of the cdn_url (<file>: the s3_key's file name). */
  sandboxPaths: boolean;
  /**
   * The file name of an upload's s3_key (in state.video_infos, so in sandbox paths): 'filename' the uploaded name,
   * 'hash' a content hash with the extension (the CLI matches sandbox paths on the s3_key's name, protocol §2.6).
   */
  storageKeys: 'filename' | 'hash';
  /**
   * The upload response (§2.4): 'files' the documented `data.files[]` with `cdn_url`; 'uploaded_files' the low-trust
   * generated variant (S9) `data.uploaded_files[]` whose entries carry the same URL as `url` (no `cdn_url`).
   */
  uploadShape: 'files' | 'uploaded_files';
  /** Create-session data also carries `user_id` (the token's user, `anon_…` for anonymous ones), as the pre-1.0 docs show (§2.2). */
  sessionUserId: boolean;
  /**
   * §6.9 (whether a URL upload is asynchronous is unknown): a URL upload answers at once with its files and
   * `session_state_applied: false`, and state lists them (the agent sees them) only this long later (before timeScale).
   * 0 = the files are in state when the upload answers, with `session_state_applied: true` (the default).
   */
  urlUploadApplyMs: number;
  /**
   * Whether envelope errors (1001…4002) carry a matching HTTP status or always HTTP 200; the render proxy's
   * {success:false,error} refusals (403/404/409) follow it too (protocol §6.1).
   */
  errorHttpStatus: 'mapped' | 'always200';
  /**
   * The codes that look like HTTP statuses (400, 402, 429; protocol §1 [A]): 'status' sends them as the HTTP status too,
   * 'body' only as the envelope's code on HTTP 200 (the render proxy's 400/402: its {success:false,error} on HTTP 200).
   */
  httpLikeCodes: 'status' | 'body';
  errorMessageKey: 'message' | 'msg';
  /**
   * Render poll body: (a) {success,data:{id,status,progress,outputUrl…}}, (b) top-level {taskId,status,progress,output},
   * or 'remotion' {success,data:{overallProgress 0..1, done, outputFile, errors, fatalErrorEncountered…}} with no status
   * and no id (§4). b and remotion answer the submit with the same body as the poll.
   */
  renderShape: RenderShape;
  /** Fraction of edits that end without a text event: 'never', 'always' or a probability 0..1. */
  silentEdits: 'never' | 'always' | number;
  /** A silent edit's stream: 'result' ends with the tool's functionResponse; 'calls_only' closes after the call (protocol §3: "only tool calls"). */
  silentEditShape: 'result' | 'calls_only';
  /** An edit that finds nothing to change: 'visible' still bumps the draft's revision; 'unchanged' leaves the state as it was. */
  noopEdits: 'visible' | 'unchanged';
  anonCredits: number;
  generationCost: number;
  editCost: number;
  /** Durations before multiplication by the simulator's timeScale. */
  textMs: number;
  generateMs: number;
  /** How long a generation's second stage (music and title added to the raw video) takes; null: 15 % of generateMs. */
  secondStageMs: number | null;
  editMs: number;
  renderMs: number;
  /** Anonymous tokens minted per IP per 7 days before HTTP 429. */
  tokenIpLimit: number;
  /** Anonymous token lifetime in wall-clock ms (not scaled). */
  tokenTtlMs: number;
  uploadMaxBytes: number;
  /** Extra non-anonymous ("paid") bearer tokens accepted as is, e.g. a configured NEMO_TOKEN. */
  staticTokens: string[];
  /** Starting balance of each static token's user (each token has its own); null = anonCredits. */
  staticCredits: number | null;
  /**
   * Size of every render output in bytes: the sample MP4 padded with a trailing `free` box (still a valid MP4),
   * streamed, never held in memory. null = the plain sample (about 22 KB); values below sample + 8 give the sample.
   */
  outputBytes: number | null;
  /**
   * Wall-clock pace of every output download (public URL and authenticated download), in bytes per second; null =
   * as fast as the socket takes it. Lets a test catch a client in the middle of copying a large output.
   */
  outputBytesPerSec: number | null;
  /**
   * Wishes the agent gets wrong (deterministically) when a message expresses them in an "Output requirements"
   * block; 'resolution' applies to every generation. Lets a client's conformance checks fail on purpose.
   */
  missRequirements: RequirementName[];
  /** Whether a corrective message ("Please correct the video…") fixes the missed wishes, or changes none of them. */
  fixOnCorrection: boolean;
  /**
   * How /run_sse says its session is missing (a missing session and the `session_lost` fault), protocol §3: 'detail'
   * older ADK's 404 {"detail":"Session not found"}, 'detail_id' newer ADK's 404 {"detail":"Session not found: <id>"},
   * 'envelope' the NemoVideo gateway's mapping to a 1002 envelope (HTTP status and message key per errorHttpStatus
   * and errorMessageKey).
   */
  sessionMissingForm: 'detail' | 'detail_id' | 'envelope';
  /**
   * The rest of an ADK event (protocol §3) on the agent's events: thought parts (model reasoning, never user-facing),
   * thoughtSignature on function calls, an inlineData preview image on the closing text, finishReason "STOP",
   * modelVersion, interrupted:false and usageMetadata on model events, customMetadata and branch on every event,
   * turnComplete (and actions.escalate, handing back to the root agent) on the run's last event, a root agent's
   * transfer_to_agent (actions.transferToAgent) before a session's first run, actions.skipSummarization on a silent
   * edit's tool result; an agent_error_event fault's event also carries finishReason. Casing follows eventCasing.
   */
  eventExtras: boolean;
  /**
   * The envelope code a refused token gets (no, unknown, expired or killed bearer): 1001 (status per
   * errorHttpStatus), or the newer mega-x gateway's 1010 (invalid) / 1011 (expired), always with HTTP 401 (§1).
   */
  authErrorCode: 1001 | 1010 | 1011;
  /**
   * A refusal's message names the bearer it refused (`token <bearer> invalid or expired`), as careless gateways do:
   * whatever the client keeps of the message must not keep the token.
   */
  authErrorEchoesToken: boolean;
}

export const DEFAULT_SCENARIO: SimScenario = Object.freeze({
  eventCasing: 'camel',
  eventStyle: 'adk',
  heartbeat: 'json',
  heartbeatIntervalMs: 5_000,
  sseFraming: 'lf',
  splitArtifactEvents: false,
  trailingTemporaryIssue: false,
  streamingPartials: true,
  sandboxPaths: false,
  storageKeys: 'filename',
  uploadShape: 'files',
  sessionUserId: false,
  urlUploadApplyMs: 0,
  errorHttpStatus: 'mapped',
  httpLikeCodes: 'status',
  errorMessageKey: 'message',
  renderShape: 'a',
  silentEdits: 0.3,
  silentEditShape: 'result',
  noopEdits: 'visible',
  anonCredits: 10_000,
  generationCost: 100,
  editCost: 50,
  textMs: 8_000,
  generateMs: 150_000,
  secondStageMs: null,
  editMs: 20_000,
  renderMs: 30_000,
  tokenIpLimit: 10,
  tokenTtlMs: 7 * 24 * 3600 * 1000,
  uploadMaxBytes: 500 * 1024 * 1024,
  staticTokens: [] as string[],
  staticCredits: null,
  outputBytes: null,
  outputBytesPerSec: null,
  missRequirements: [] as RequirementName[],
  fixOnCorrection: true,
  sessionMissingForm: 'detail_id',
  eventExtras: false,
  authErrorCode: 1001,
  authErrorEchoesToken: false,
}) as SimScenario;

const ms = z.number().min(0);

/** A strict partial scenario: unknown keys are refused so a typo in a test does not silently do nothing. */
export const scenarioPatchSchema = z
  .object({
    eventCasing: z.enum(['camel', 'snake']),
    eventStyle: z.enum(['adk', 'typed', 'mixed']),
    heartbeat: z.enum(['json', 'empty', 'comment', 'word', 'mixed']),
    heartbeatIntervalMs: ms,
    sseFraming: z.enum(['lf', 'crlf', 'cr', 'compact', 'fragmented', 'mixed']),
    splitArtifactEvents: z.boolean(),
    trailingTemporaryIssue: z.boolean(),
    streamingPartials: z.boolean(),
    sandboxPaths: z.boolean(),
    storageKeys: z.enum(['filename', 'hash']),
    uploadShape: z.enum(['files', 'uploaded_files']),
    sessionUserId: z.boolean(),
    urlUploadApplyMs: z.number().int().min(0),
    errorHttpStatus: z.enum(['mapped', 'always200']),
    httpLikeCodes: z.enum(['status', 'body']),
    errorMessageKey: z.enum(['message', 'msg']),
    renderShape: z.enum(['a', 'b', 'remotion']),
    silentEdits: z.union([z.enum(['never', 'always']), z.number().min(0).max(1)]),
    silentEditShape: z.enum(['result', 'calls_only']),
    noopEdits: z.enum(['visible', 'unchanged']),
    anonCredits: z.number().int().min(0),
    generationCost: z.number().int().min(0),
    editCost: z.number().int().min(0),
    textMs: ms,
    generateMs: ms,
    secondStageMs: ms.nullable(),
    editMs: ms,
    renderMs: ms,
    tokenIpLimit: z.number().int().min(0),
    tokenTtlMs: ms,
    uploadMaxBytes: z.number().int().min(0),
    staticTokens: z.array(z.string().min(1)),
    staticCredits: z.number().int().min(0).nullable(),
    outputBytes: z.number().int().min(0).max(64 * 1024 ** 3).nullable(),
    outputBytesPerSec: z.number().int().min(1).nullable(),
    missRequirements: z.array(z.enum(REQUIREMENT_NAMES)),
    fixOnCorrection: z.boolean(),
    sessionMissingForm: z.enum(['detail', 'detail_id', 'envelope']),
    eventExtras: z.boolean(),
    authErrorCode: z.union([z.literal(1001), z.literal(1010), z.literal(1011)]),
    authErrorEchoesToken: z.boolean(),
  })
  .partial()
  .strict();

export function mergeScenario(base: SimScenario, patch: Partial<SimScenario>): SimScenario {
  const parsed = scenarioPatchSchema.parse(patch);
  return { ...base, ...parsed };
}

/**
 * SIM_SCENARIO as the service's configuration checks it (src/app/config.ts): JSON of a scenario patch, kept as text.
 * Each problem is its own issue at its own path (`SIM_SCENARIO.renderShape: …`), so start-up prints one line each.
 */
export const simScenarioEnvSchema = z.string().superRefine((raw, ctx) => {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `must be a JSON object of scenario settings (${(err as Error).message})` });
    return;
  }
  const parsed = scenarioPatchSchema.safeParse(value);
  if (parsed.success) return;
  for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
});

/** SIM_SCENARIO env value (JSON) → a validated partial; throws with the zod message when invalid. */
export function parseScenarioJson(raw: string | undefined): Partial<SimScenario> {
  if (!raw || !raw.trim()) return {};
  return scenarioPatchSchema.parse(JSON.parse(raw));
}
