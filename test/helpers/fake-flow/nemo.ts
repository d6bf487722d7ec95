// A scripted NemoVideo client for the flow unit tests: each method answers the next scripted value, every call logged.
import { type Step } from '../../../src/flow/state.js';
import type { NemoClient } from '../../../src/nemo/client.js';
import type { Draft } from '../../../src/nemo/schemas.js';
import { CDN, agentResult, completedRender, draftWith, renderStatus } from './fixtures.js';

// ---------------------------------------------------------------------------------------------------------------
// The upstream
// ---------------------------------------------------------------------------------------------------------------

export type NemoMethod =
  | 'createSession'
  | 'uploadUrls'
  | 'uploadFiles'
  | 'runAgent'
  | 'getState'
  | 'getCredits'
  | 'submitRender'
  | 'getRender'
  | 'cancelRender'
  | 'claimToken';
type Result<M extends NemoMethod> = Awaited<ReturnType<NemoClient[M]>>;
/** A value to answer, an Error to throw, or a function of the call's arguments (which may also throw). */
export type Answer<M extends NemoMethod> = Result<M> | Error | ((...args: Parameters<NemoClient[M]>) => Result<M> | Promise<Result<M>>);

export interface NemoCall {
  method: NemoMethod;
  args: unknown[];
  token: string;
  /** The step that made the call (null: the machine itself, e.g. cancel or the claim link on 2001). */
  step: Step | null;
}

/** What the upstream's /state holds for one session. */
export interface SessionContent {
  draft: unknown;
  generated_media: unknown;
  video_infos: unknown[];
}

const DEFAULT = Symbol('default answer');
export const baseName = (url: string) => url.split('/').pop() ?? url;

/**
 * Each method answers the next scripted answer, else its `always` answer, else a default that behaves like a healthy
 * upstream: sessions are created, the agent adds a segment to the session's draft and says so, renders complete at once.
 */
export class FakeNemo {
  readonly calls: NemoCall[] = [];
  readonly sessions = new Map<string, SessionContent>();
  /** The canvas the default agent edit draws on. */
  canvas = { width: 1080, height: 1920 };
  creditsAvailable = 1000;
  /** Set by the deps' aroundStep while a step runs. */
  step: Step | null = null;
  private readonly queues = new Map<NemoMethod, unknown[]>();
  private readonly fallbacks = new Map<NemoMethod, unknown>();
  private readonly traps: { method: NemoMethod; when: (call: NemoCall) => boolean; error: () => Error; left: number }[] = [];
  private sessionCount = 0;

  constructor(private readonly journal: string[]) {}

  /** As NemoClient's: the fake logs nothing, so it is itself. */
  withLogger(): this {
    return this;
  }

  script<M extends NemoMethod>(method: M, ...answers: Answer<M>[]): this {
    this.queues.set(method, [...(this.queues.get(method) ?? []), ...answers]);
    return this;
  }

  always<M extends NemoMethod>(method: M, answer: Answer<M>): this {
    this.fallbacks.set(method, answer);
    return this;
  }

  /** Throws on the first `times` calls `when` accepts, whatever is scripted (e.g. "the state read of the check step"). */
  failWhen(method: NemoMethod, when: (call: NemoCall) => boolean, error: () => Error, times = 1): this {
    this.traps.push({ method, when, error, left: times });
    return this;
  }

  callsOf(method: NemoMethod): NemoCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  count(method: NemoMethod): number {
    return this.callsOf(method).length;
  }

  /** The session's /state content, created empty on first use. */
  content(sessionId: string): SessionContent {
    let content = this.sessions.get(sessionId);
    if (!content) {
      content = { draft: null, generated_media: null, video_infos: [] };
      this.sessions.set(sessionId, content);
    }
    return content;
  }

  /** Sets what the session's /state holds (as if the agent had drawn it). */
  setDraft(sessionId: string, draft: unknown): void {
    this.content(sessionId).draft = structuredClone(draft);
  }

  createSession(token: string, opts: { language: string; taskName?: string }) {
    return this.answer('createSession', [token, opts], () => {
      const n = ++this.sessionCount;
      this.content(`sess_${n}`);
      return { taskId: `task_${n}`, sessionId: `sess_${n}` };
    });
  }

  uploadUrls(token: string, sessionId: string, urls: string[], opts: Parameters<NemoClient['uploadUrls']>[3] = {}) {
    return this.answer('uploadUrls', [token, sessionId, urls, opts], () =>
      urls.map((u) => ({ filename: baseName(u), fileType: 'video', cdnUrl: `${CDN}/${sessionId}/${baseName(u)}` })),
    );
  }

  uploadFiles(token: string, sessionId: string, files: Parameters<NemoClient['uploadFiles']>[2], opts: Parameters<NemoClient['uploadFiles']>[3] = {}) {
    return this.answer('uploadFiles', [token, sessionId, files, opts], () =>
      files.map((f) => ({ filename: f.filename, fileType: 'image', cdnUrl: `${CDN}/${sessionId}/${f.filename}` })),
    );
  }

  runAgent(token: string, sessionId: string, text: string, opts: Parameters<NemoClient['runAgent']>[3]) {
    return this.answer('runAgent', [token, sessionId, text, opts], () => {
      this.agentEdits(sessionId);
      return agentResult({ texts: [`done: ${text.slice(0, 40)}`] });
    });
  }

  getState(token: string, sessionId: string) {
    return this.answer('getState', [token, sessionId], () => {
      const content = structuredClone(this.content(sessionId));
      return { sessionId, taskId: null, draft: (content.draft ?? null) as Draft | null, raw: { session_id: sessionId, state: content } };
    });
  }

  getCredits(token: string) {
    return this.answer('getCredits', [token], () => ({ available: this.creditsAvailable, frozen: 0, total: this.creditsAvailable }));
  }

  submitRender(token: string, req: Parameters<NemoClient['submitRender']>[1]) {
    return this.answer('submitRender', [token, req], () => renderStatus({ id: req.id, status: 'pending', progress: 0 }));
  }

  getRender(token: string, id: string) {
    return this.answer('getRender', [token, id], () => completedRender(id));
  }

  cancelRender(token: string, id: string) {
    return this.answer('cancelRender', [token, id], () => undefined);
  }

  claimToken(token: string, taskId: string, sessionId: string) {
    return this.answer('claimToken', [token, taskId, sessionId], () => ({ claimToken: 'clm_claim1', expiresIn: 3_600 }));
  }

  /**
   * The default agent edit: one more segment on the session's draft. The first one is a whole generation, both its
   * stages (protocol §3): the raw video and the background music the backend adds to it.
   */
  agentEdits(sessionId: string): void {
    const content = this.content(sessionId);
    const before = content.draft as { t?: { tt?: number; sg?: unknown[] }[] } | null;
    const segments = before?.t?.[0]?.sg?.length ?? 0;
    const draft = draftWith(segments + 1, this.canvas);
    const others = before ? (before.t ?? []).slice(1) : [{ tt: 1, sg: [{ id: 'bgm1', d: 2_000, src: `${CDN}/bgm.mp3` }] }];
    content.draft = { ...draft, t: [...(draft.t ?? []), ...others] } as Draft;
  }

  private async answer<M extends NemoMethod>(method: M, args: Parameters<NemoClient[M]>, byDefault: () => Result<M>): Promise<Result<M>> {
    const call: NemoCall = { method, args: [...args], token: String(args[0]), step: this.step };
    this.calls.push(call);
    this.journal.push(`nemo:${method}`);
    const trap = this.traps.find((t) => t.method === method && t.left > 0 && t.when(call));
    if (trap) {
      trap.left -= 1;
      throw trap.error();
    }
    const queue = this.queues.get(method) ?? [];
    const scripted = queue.length > 0 ? queue.shift() : this.fallbacks.has(method) ? this.fallbacks.get(method) : DEFAULT;
    if (scripted === DEFAULT) return byDefault();
    if (scripted instanceof Error) throw scripted;
    if (typeof scripted === 'function') return (await (scripted as (...a: unknown[]) => unknown)(...args)) as Result<M>;
    return structuredClone(scripted) as Result<M>;
  }
}
