// Normalises the render poll shapes: §2.8 a {success,data:{id,outputUrl}}, b top-level {taskId,output:{url}}, §4 raw Remotion progress.
import { z } from 'zod';

export type RenderState = 'pending' | 'processing' | 'completed' | 'failed';

export interface RenderStatus {
  id: string;
  status: RenderState;
  /** 0..100 */
  progress: number;
  url: string | null;
  error: string | null;
  /** Duration of the rendered video (not of the render job). */
  durationMs: number | null;
  sizeBytes: number | null;
  /** How long the render itself took upstream (shape a's completedAt − createdAt, epoch ms); null when not given. */
  renderMs: number | null;
}

const num = z.number().nullish().catch(null);
const str = z.string().nullish().catch(null);

/** The object `d = body.data ?? body` of either shape; every field optional because the shapes disagree. */
export const renderWireSchema = z.looseObject({
  id: z.union([z.string(), z.number().transform(String)]).nullish(),
  taskId: z.union([z.string(), z.number().transform(String)]).nullish(),
  renderId: z.string().nullish(),
  status: z.string().nullish(),
  progress: z.union([z.number(), z.string().regex(/^\d+(\.\d+)?$/).transform(Number)]).nullish().catch(null),
  outputUrl: str,
  output_url: str,
  url: str,
  output: z
    .looseObject({ url: str, duration: num, size: num })
    .nullish()
    .catch(null),
  error: z.union([z.string(), z.looseObject({ message: z.string().nullish() })]).nullish().catch(null),
  errors: z
    .array(z.looseObject({ message: z.string().nullish(), isFatal: z.boolean().nullish().catch(null) }))
    .nullish()
    .catch(null),
  // §4: Remotion's getRenderProgress(), should the proxy pass it through (no status; progress 0..1).
  overallProgress: num,
  done: z.boolean().nullish().catch(null),
  outputFile: str,
  outputSizeInBytes: num,
  fatalErrorEncountered: z.boolean().nullish().catch(null),
  timeToFinish: num,
  duration: num,
  durationMs: num,
  duration_ms: num,
  size: num,
  sizeBytes: num,
  size_bytes: num,
  createdAt: num,
  completedAt: num,
});

/** §2.8 lists pending → processing → completed | failed; the aliases cost nothing and avoid a stuck poll. */
const STATUS_ALIASES: Record<string, RenderState> = {
  pending: 'pending',
  queued: 'pending',
  waiting: 'pending',
  processing: 'processing',
  rendering: 'processing',
  running: 'processing',
  in_progress: 'processing',
  completed: 'completed',
  complete: 'completed',
  done: 'completed',
  succeeded: 'completed',
  success: 'completed',
  failed: 'failed',
  failure: 'failed',
  error: 'failed',
  canceled: 'failed',
  cancelled: 'failed',
};

type RenderWire = z.infer<typeof renderWireSchema>;

/** A body without `status` but with Remotion's own fields is the raw progress object (§4), not shape a or b. */
function isRemotionProgress(d: RenderWire): boolean {
  return !d.status && (d.overallProgress != null || d.done != null || d.fatalErrorEncountered != null);
}

/**
 * §4's likely proxy mapping applied by the client itself: done with a file → completed; fatal → failed with the first
 * fatal error's message (else errors[0]); anything else is still processing at round(overallProgress × 100).
 */
function normaliseRemotion(d: RenderWire, fallbackId: string): RenderStatus {
  const url = d.outputFile ?? null;
  const status: RenderState = d.done && url ? 'completed' : d.fatalErrorEncountered ? 'failed' : 'processing';
  const errors = d.errors ?? [];
  const errorText = (errors.find((e) => e.isFatal && e.message) ?? errors.find((e) => e.message))?.message ?? null;
  const progress = status === 'completed' ? 100 : Math.min(100, Math.max(0, Math.round((d.overallProgress ?? 0) * 100)));
  const took = d.timeToFinish ?? NaN;
  return {
    id: d.id ?? d.taskId ?? d.renderId ?? fallbackId,
    status,
    progress,
    url: status === 'completed' ? url : null,
    error: status === 'failed' ? (errorText ?? 'render failed (fatal error, no message)') : null,
    durationMs: null,
    sizeBytes: d.outputSizeInBytes ?? null,
    renderMs: status === 'completed' && took > 0 && took < 86_400_000 ? took : null,
  };
}

export function normaliseRender(d: RenderWire, fallbackId: string): RenderStatus {
  if (isRemotionProgress(d)) return normaliseRemotion(d, fallbackId);
  const url = d.outputUrl ?? d.output_url ?? d.output?.url ?? d.url ?? null;
  const raw = (d.status ?? '').toLowerCase();
  // An unknown status keeps the poller polling until its own deadline rather than failing a render that may finish.
  let status: RenderState = STATUS_ALIASES[raw] ?? 'processing';
  if (!d.status && url) status = 'completed';
  const errorText =
    typeof d.error === 'string' ? d.error : (d.error?.message ?? d.errors?.find((e) => e.message)?.message ?? null);
  const progressRaw = d.progress ?? (status === 'completed' ? 100 : 0);
  const progress = Math.min(100, Math.max(0, progressRaw));
  // Shape b: output.duration is seconds, output.size bytes (§2.8).
  const seconds = d.output?.duration ?? d.duration ?? null;
  const durationMs = d.durationMs ?? d.duration_ms ?? (seconds === null ? null : Math.round(seconds * 1000));
  const sizeBytes = d.output?.size ?? d.sizeBytes ?? d.size_bytes ?? d.size ?? null;
  const took = d.createdAt != null && d.completedAt != null ? d.completedAt - d.createdAt : NaN;
  return {
    id: d.id ?? d.taskId ?? d.renderId ?? fallbackId,
    status,
    progress,
    url,
    error: errorText || null,
    durationMs,
    sizeBytes,
    renderMs: status === 'completed' && took > 0 && took < 86_400_000 ? took : null,
  };
}
