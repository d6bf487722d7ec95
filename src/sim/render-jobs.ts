// Render lifecycle computed from elapsed time: pending → processing → completed | failed, and the poll shapes.
import type { RenderRec } from './model.js';
import type { RenderShape } from './scenario.js';

export type RenderStatus = 'pending' | 'processing' | 'completed' | 'failed';

export interface RenderView {
  status: RenderStatus;
  progress: number;
  error?: string;
  completedAt?: number;
}

/** Doomed renders fail this far in (a Lambda chunk failing midway, not at submit time). */
const FAIL_AT = 0.3;
/** Renders stay `pending` for the first tenth (queueing for a Lambda). */
const PENDING_UNTIL = 0.1;

function progressAt(r: RenderRec, at: number): number {
  if (r.totalMs <= 0) return 5;
  const f = Math.min(1, Math.max(0, (at - r.createdAt) / r.totalMs));
  return Math.min(99, Math.floor(5 + 95 * f));
}

export function renderView(r: RenderRec, now = Date.now()): RenderView {
  if (r.canceledAt !== undefined) return { status: 'failed', progress: progressAt(r, r.canceledAt), error: 'canceled' };
  const elapsed = now - r.createdAt;
  if (r.failReason && elapsed >= r.totalMs * FAIL_AT) {
    return { status: 'failed', progress: progressAt(r, r.createdAt + r.totalMs * FAIL_AT), error: r.failReason };
  }
  if (elapsed >= r.totalMs) return { status: 'completed', progress: 100, completedAt: r.createdAt + r.totalMs };
  if (elapsed < r.totalMs * PENDING_UNTIL) return { status: 'pending', progress: 5 };
  return { status: 'processing', progress: progressAt(r, now) };
}

export function isActive(r: RenderRec, now = Date.now()): boolean {
  const s = renderView(r, now).status;
  return s === 'pending' || s === 'processing';
}

/** Frames per second the pretend Lambda renders at, for the raw progress object's frame counts. */
const FPS = 30;
/** Frames one pretend Lambda renders (Remotion's framesPerLambda); a render of n frames invokes ceil(n / this) of them. */
const FRAMES_PER_LAMBDA = 20;

/**
 * Remotion's getRenderProgress() as the proxy might pass it through (protocol §4): no `status`, no id, progress 0..1,
 * `outputFile` only once done, and a failure only as `fatalErrorEncountered` plus its `errors` entry.
 */
function remotionProgress(r: RenderRec, v: RenderView, outputUrl: string, now: number): Record<string, unknown> {
  const done = v.status === 'completed';
  const failed = v.status === 'failed';
  const frames = Math.max(1, Math.round((r.draftMs / 1000) * FPS));
  const lambdas = Math.ceil(frames / FRAMES_PER_LAMBDA);
  const accrued = Number(((v.progress / 100) * lambdas * 0.00021).toFixed(6));
  return {
    overallProgress: done ? 1 : v.progress / 100,
    done,
    outputFile: done ? outputUrl : null,
    outputSizeInBytes: done ? r.outputBytes : null,
    errors: failed
      ? [
          {
            message: v.error ?? 'render failed',
            name: 'Error',
            stack: `Error: ${v.error ?? 'render failed'}\n    at renderHandler (/var/task/index.js:1:1)`,
            chunk: null,
            frame: null,
            isFatal: true,
            attempt: 1,
            willRetry: false,
            totalAttempts: 1,
            type: 'renderer',
          },
        ]
      : [],
    fatalErrorEncountered: failed,
    framesRendered: done ? frames : Math.floor((frames * v.progress) / 100),
    chunks: done ? lambdas : Math.floor((lambdas * v.progress) / 100),
    lambdasInvoked: v.status === 'pending' ? 0 : lambdas,
    timeToFinish: done && v.completedAt !== undefined ? v.completedAt - r.createdAt : null,
    costs: { accruedSoFar: accrued, displayCost: `$${accrued.toFixed(3)}`, currency: 'USD', disclaimer: 'estimate' },
    renderSize: done ? r.outputBytes : 0,
    currentTime: now,
  };
}

/**
 * Poll body in shape (a) {success,data:{…outputUrl}}, (b) top-level {taskId,…,output:{url,duration,size}}, or
 * remotion: {success,data:<raw getRenderProgress object>}.
 */
export function pollBody(r: RenderRec, shape: RenderShape, outputUrl: string, now = Date.now()): Record<string, unknown> {
  const v = renderView(r, now);
  const done = v.status === 'completed';
  if (shape === 'remotion') return { success: true, data: remotionProgress(r, v, outputUrl, now) };
  if (shape === 'b') {
    return {
      taskId: r.id,
      status: v.status,
      progress: v.progress,
      output: done ? { url: outputUrl, duration: r.draftMs / 1000, size: r.outputBytes } : null,
      ...(v.error ? { error: v.error } : {}),
    };
  }
  return {
    success: true,
    data: {
      id: r.id,
      status: v.status,
      progress: v.progress,
      createdAt: r.createdAt,
      ...(done ? { outputUrl, completedAt: v.completedAt } : {}),
      ...(v.error ? { error: v.error } : {}),
    },
  };
}
