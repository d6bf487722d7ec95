// The simulated nemo_agent: runs one message against a session, streaming ADK events to an SseSink.
// The work is detached from the HTTP response: a client that disconnects does not stop it (like the real backend).
import { randomBytes } from 'node:crypto';
import { AGENT_NAME, makeEvent, type AdkActions, type AdkEvent, type AdkPart } from './adk-events.js';
import { READY_TEXT, TEMPORARY_ISSUE_TEXT, aspectOf, editDoneText, generationLead } from './agent-texts.js';
import type { Clock } from './clock.js';
import { describeDraft, editDraft, generateDraft, type BuildContext, type BuildResult } from './draft-builder.js';
import { newCallId, newInvocationId } from './ids.js';
import type { Intent } from './intent.js';
import type { SessionRec, UserRec } from './model.js';
import type { SimScenario } from './scenario.js';
import type { SseSink } from './sse-sink.js';
import type { FaultKind } from './types.js';
import { wishesFor } from './wishes.js';
import type { Logger } from '../observability/logger.js';

export type MessageKind = 'question' | 'generation' | 'edit';

export interface AgentDeps {
  clock: Clock;
  logger: Logger;
  /** Registers a background run so the simulator can await idleness. */
  track(run: Promise<void>): void;
}

export interface AgentJob {
  session: SessionRec;
  user: UserRec;
  text: string;
  kind: MessageKind;
  cost: number;
  scenario: SimScenario;
  /** Base URL for media links produced by this run. */
  base: string;
  fault?: FaultKind | undefined;
  /** ignore_aspect_once: this generation renders on the wrong canvas whatever was asked. */
  ignoreAspect?: boolean;
  /** agent_error_event: the model-level failure's code (default MALFORMED_FUNCTION_CALL). */
  agentErrorCode?: 'MALFORMED_FUNCTION_CALL' | 'SAFETY' | undefined;
  /** stream_error with a message over several lines (FaultSpec.multiline). */
  multilineError?: boolean;
  sink: SseSink;
  /** Aborted by reset()/close(): the run stops without touching state. */
  signal: AbortSignal;
}

const USAGE = { promptTokenCount: 5123, candidatesTokenCount: 31, totalTokenCount: 5154 };

/** scenario eventExtras: the parent agent that hands the session to nemo_agent (ADK's agent tree). */
const ROOT_AGENT = 'nemo_root';
const MODEL_VERSION = 'gemini-2.5-flash';
/** A 1x1 PNG: the "preview" inlineData part a model answer may carry. */
const PREVIEW_PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

/** A thought summary, as Gemini's thinking models write them; it must never be shown as the agent's answer. */
function thoughtFor(step: string): AdkPart {
  return { text: `**Planning the next step**\n\nI am reasoning privately about ${step} before I answer the user.`, thought: true };
}

/** Freezes the cost now (frozen > 0 while processing) and queues the run behind the session's earlier ones. */
export function startAgentRun(deps: AgentDeps, job: AgentJob): void {
  job.user.available -= job.cost;
  job.user.frozen += job.cost;
  job.session.busy++;
  // Counted now: by the time the run gets its turn on the session's chain, later messages may have been added.
  const firstRun = job.session.runs.length <= 1;
  let settled = false;
  const settle = (charged: boolean) => {
    if (settled) return;
    settled = true;
    job.user.frozen -= job.cost;
    if (!charged) job.user.available += job.cost;
  };
  const run = job.session.chain
    .then(() => execute(deps, job, settle, firstRun))
    .catch((err: unknown) => deps.logger.error({ err }, 'sim agent run failed'))
    .finally(() => {
      settle(false);
      job.session.busy--;
      job.sink.end();
    });
  job.session.chain = run;
  deps.track(run);
}

class Run {
  readonly legacy: boolean;
  readonly invocationId = newInvocationId();
  readonly ctx: BuildContext;
  /** scenario eventExtras: the rest of ADK's event fields (see scenario.ts). */
  readonly extras: boolean;

  constructor(
    readonly deps: AgentDeps,
    readonly job: AgentJob,
  ) {
    this.legacy = job.scenario.eventCasing === 'snake';
    this.extras = job.scenario.eventExtras;
    const s = job.session;
    this.ctx = {
      sessionId: s.sessionId,
      base: job.base,
      sandbox: job.scenario.sandboxPaths,
      defaultTitle: s.taskName,
      nextName: (prefix, ext) => `${prefix}_${++s.mediaSeq}.${ext}`,
    };
  }

  event(fields: Partial<AdkEvent>): AdkEvent {
    const extra: Partial<AdkEvent> = this.extras ? { branch: `${ROOT_AGENT}.${AGENT_NAME}`, customMetadata: { nemo_message_kind: this.job.kind } } : {};
    return makeEvent(this.invocationId, this.legacy, { ...extra, ...fields });
  }

  /** What a model (LLM) response adds to its event under eventExtras; tool results are ADK's own, not the model's. */
  private model(): Partial<AdkEvent> {
    return this.extras ? { finishReason: 'STOP', interrupted: false, usageMetadata: USAGE, modelVersion: MODEL_VERSION } : {};
  }

  /** The run's last event ends the turn (eventExtras), and hands control back up the agent tree. */
  private closing(last: boolean, actions?: AdkActions): Partial<AdkEvent> {
    if (!this.extras || !last) return actions ? { actions } : {};
    return { turnComplete: true, actions: { ...(actions ?? { stateDelta: {}, artifactDelta: {}, requestedAuthConfigs: {} }), escalate: true } };
  }

  /** `final`: the run's answer (usage, and a preview image with eventExtras); `last`: nothing follows it. */
  say(text: string, final = false, last = final && !this.job.scenario.trailingTemporaryIssue): void {
    const parts: AdkPart[] = this.extras
      ? [thoughtFor('how to phrase this reply'), { text }, ...(final ? [{ inlineData: { mimeType: 'image/png', data: PREVIEW_PNG } }] : [])]
      : [{ text }];
    this.job.sink.event(
      this.event({ content: { role: 'model', parts }, ...(final ? { usageMetadata: USAGE } : {}), ...this.model(), ...this.closing(last) }),
    );
    this.job.session.replies.push(text);
  }

  call(name: string, args: Record<string, unknown>, lead?: string, author = AGENT_NAME): string {
    const id = newCallId(this.legacy);
    const call: AdkPart = { functionCall: { id, name, args }, ...(this.extras ? { thoughtSignature: randomBytes(24).toString('base64') } : {}) };
    const parts: AdkPart[] = [...(this.extras ? [thoughtFor(`calling ${name}`)] : []), ...(lead ? [{ text: lead }] : []), call];
    this.job.sink.event(this.event({ content: { role: 'model', parts }, longRunningToolIds: [], author, ...this.model() }));
    return id;
  }

  result(
    id: string,
    name: string,
    response: Record<string, unknown>,
    stateDelta: Record<string, unknown>,
    artifactDelta: Record<string, number> = {},
    opts: { last?: boolean; author?: string; actions?: Partial<AdkActions> } = {},
  ): void {
    const actions: AdkActions = { stateDelta, artifactDelta, requestedAuthConfigs: {}, ...(this.extras ? opts.actions : {}) };
    this.job.sink.event(
      this.event({
        content: { role: 'user', parts: [{ functionResponse: { id, name, response } }] },
        author: opts.author ?? AGENT_NAME,
        ...this.closing(opts.last === true, actions),
      }),
    );
  }

  /**
   * eventExtras, a session's first run: the root agent hands the conversation to nemo_agent with transfer_to_agent,
   * whose result event carries actions.transferToAgent (ADK then keeps talking to nemo_agent on later runs).
   */
  transfer(): void {
    if (!this.extras) return;
    const id = this.call('transfer_to_agent', { agent_name: AGENT_NAME }, undefined, ROOT_AGENT);
    this.result(id, 'transfer_to_agent', { result: null }, {}, {}, { author: ROOT_AGENT, actions: { transferToAgent: AGENT_NAME } });
  }

  /** Simulated upstream work: one heartbeat right away (so every stage shows one), then scaled time. */
  work(upstreamMs: number): Promise<boolean> {
    this.job.sink.heartbeat();
    return this.deps.clock.sleep(this.deps.clock.scaled(upstreamMs), this.job.signal);
  }

  /** Applies a build result to the session state and returns the matching stateDelta. */
  apply(r: BuildResult): Record<string, unknown> {
    const st = this.job.session.state;
    st.draft = r.draft;
    st.canvas_config = { width: r.draft.m.width, height: r.draft.m.height };
    st.generated_media.push(...r.media);
    const delta: Record<string, unknown> = { draft: structuredClone(r.draft), canvas_config: { ...st.canvas_config } };
    if (r.media.length > 0) delta.generated_media = structuredClone(st.generated_media);
    return delta;
  }

  trailer(): void {
    if (this.job.scenario.trailingTemporaryIssue) this.say(TEMPORARY_ISSUE_TEXT, false, true);
  }
}

async function execute(deps: AgentDeps, job: AgentJob, settle: (charged: boolean) => void, firstRun: boolean): Promise<void> {
  if (job.signal.aborted) return;
  const run = new Run(deps, job);
  const { intent, missed } = wishesFor(job.text, {
    kind: job.kind,
    missRequirements: job.scenario.missRequirements,
    fixOnCorrection: job.scenario.fixOnCorrection,
  });
  if (missed.length > 0) deps.logger.debug({ sessionId: job.session.sessionId, missed }, 'sim agent gets requirements wrong (scenario)');
  if (job.fault === 'heartbeats_only') return heartbeatsOnly(job);
  if (firstRun) run.transfer();
  if (job.fault === 'stream_error' || job.fault === 'stream_error_json' || job.fault === 'agent_error_event') {
    return failMidway(run, intent);
  }
  if (job.kind === 'question') {
    if (!(await run.work(job.scenario.textMs))) return;
    settle(true);
    run.say(`${describeDraft(job.session.state.draft)} Let me know what you'd like to change, or click Export.`, true);
  } else if (job.kind === 'generation') {
    if (!(await generation(run, intent))) return;
    settle(true);
    run.say(READY_TEXT, true);
  } else {
    const silent = isSilent(job.scenario.silentEdits);
    const found = editDraft(job.session.state, intent, run.ctx);
    // Nothing to do ("keep everything as it is"): only the revision and a nominal op changed, unless the scenario says
    // such an edit leaves the state exactly as it was (the real draft has no revision field).
    const nothing = job.scenario.noopEdits === 'unchanged' && found.ops.length === 1 && 'adjust' in found.ops[0]! && job.session.state.draft !== null;
    const r = nothing ? { draft: job.session.state.draft!, media: [], ops: [] } : found;
    const id = run.call('edit_multitrack', { ops: r.ops }, silent ? undefined : 'Sure, updating your timeline now.');
    if (!(await run.work(job.scenario.editMs))) return;
    if (silent && job.scenario.silentEditShape === 'calls_only') {
      // The state changes upstream, but the stream just ends after the call: no result, no text, no stateDelta.
      if (!nothing) run.apply(r);
      settle(true);
      return;
    }
    // A silent edit is what ADK's skip_summarization does: the tool's result ends the turn, the model says nothing more.
    run.result(id, 'edit_multitrack', { status: 'success', ops_applied: r.ops.length }, run.apply(r), {}, {
      last: silent && !job.scenario.trailingTemporaryIssue,
      ...(silent ? { actions: { skipSummarization: true } } : {}),
    });
    settle(true);
    if (!silent) run.say(editDoneText(r.ops), true);
  }
  run.trailer();
}

/** Two stages, as the real backend: the raw Seedance video, then BGM/title added by edit_multitrack. */
async function generation(run: Run, intent: Intent): Promise<boolean> {
  const { job } = run;
  const stage2 = intent.music !== undefined || intent.title !== undefined;
  const total = job.scenario.generateMs;
  const canvas = intent.canvas ?? { width: 1920, height: 1080 };
  const images = job.session.state.video_infos.filter((v) => v.file_type !== 'audio').map((v) => v.cdn_url);
  const args = {
    prompt: job.text.slice(0, 300),
    duration: Math.round((intent.durationMs ?? 10_000) / 1000),
    aspect_ratio: aspectOf(canvas.width, canvas.height),
    ...(images.length > 0 ? { image_urls: images } : {}),
  };
  const id = run.call('generate_video_with_seedance', args, generationLead(job.session.state, intent));
  if (!(await run.work(stage2 ? total * 0.85 : total))) return false;
  // The tool args above still show what was asked: the model "agreed" and then rendered something else.
  const r1 = generateDraft(job.session.state, job.ignoreAspect ? { ...intent, canvas: wrongCanvas(canvas) } : intent, run.ctx);
  const videoUrl = r1.media[0]?.url ?? r1.draft.t[0]?.sg[0]?.src;
  run.result(id, 'generate_video_with_seedance', { status: 'success', video_url: videoUrl, duration: args.duration }, run.apply(r1), {
    'generated_video.mp4': 0,
  });
  if (!stage2) return true;
  const intent2: Intent = { removeMusic: false, removeTitle: false };
  if (intent.music) intent2.music = intent.music;
  if (intent.title) intent2.title = intent.title;
  const r2 = editDraft(job.session.state, intent2, run.ctx);
  const id2 = run.call('edit_multitrack', { ops: r2.ops });
  if (!(await run.work(job.scenario.secondStageMs ?? total * 0.15))) return false;
  run.result(id2, 'edit_multitrack', { status: 'success', ops_applied: r2.ops.length }, run.apply(r2));
  return true;
}

/** ignore_aspect_once: landscape 1920x1080, or portrait 1080x1920 when a landscape canvas was asked for. */
function wrongCanvas(asked: { width: number; height: number }): { width: number; height: number } {
  return asked.width > asked.height ? { width: 1080, height: 1920 } : { width: 1920, height: 1080 };
}

/** stream_error(_json) / agent_error_event: some output, then the failure, then the stream closes; no state change. */
async function failMidway(run: Run, intent: Intent): Promise<void> {
  const { job } = run;
  const tool = job.kind === 'generation' ? 'generate_video_with_seedance' : 'edit_multitrack';
  if (job.fault !== 'agent_error_event' && job.kind !== 'question') {
    run.call(tool, job.kind === 'generation' ? { prompt: job.text.slice(0, 300) } : { ops: editDraft(job.session.state, intent, run.ctx).ops });
  }
  if (!(await run.work(job.scenario.editMs * 0.1))) return;
  if (job.fault === 'agent_error_event') {
    const code = job.agentErrorCode ?? 'MALFORMED_FUNCTION_CALL';
    const message = code === 'SAFETY' ? 'The response was blocked due to safety settings.' : `Malformed function call: ${tool}`;
    // ADK's LlmResponse.create: a candidate without content carries its finish reason as the error code.
    const extra = run.extras ? { finishReason: code, modelVersion: MODEL_VERSION, turnComplete: true } : {};
    job.sink.event(run.event({ errorCode: code, errorMessage: message, ...extra }));
    return;
  }
  const message = job.multilineError
    ? `1 validation error for ${tool}\nops\n  Field required [type=missing, input_value={}, input_type=dict]`
    : `Tool "${tool}" failed: boom`;
  // Old ADK built this line with an f-string: the inner quotes are not escaped, so it is not valid JSON.
  job.sink.rawData(job.fault === 'stream_error' ? `{"error": "${message}"}` : JSON.stringify({ error: message }));
}

/** heartbeats_only: the agent never answers; only the client hanging up (or a reset) ends it. */
function heartbeatsOnly(job: AgentJob): Promise<void> {
  return new Promise((resolve) => {
    job.sink.heartbeat();
    job.sink.onClose(resolve);
    job.signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

function isSilent(mode: SimScenario['silentEdits']): boolean {
  if (mode === 'never') return false;
  if (mode === 'always') return true;
  return Math.random() < mode;
}
