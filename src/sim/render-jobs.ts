// Render lifecycle computed from elapsed time: pending → processing → completed | failed, and the two poll shapes.
import type { RenderRec } from './model.js';

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

/** Poll body in shape (a) {success,data:{…outputUrl}} or (b) top-level {taskId,…,output:{url,duration,size}}. */
export function pollBody(r: RenderRec, shape: 'a' | 'b', outputUrl: string, now = Date.now()): Record<string, unknown> {
  const v = renderView(r, now);
  const done = v.status === 'completed';
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
