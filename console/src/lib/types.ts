// The public API's wire shapes as the console reads them; fields the API is still gaining are optional.
export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'canceled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const TERMINAL_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'canceled'];
export const TERMINAL_EVENTS: readonly string[] = ['job.succeeded', 'job.failed', 'job.canceled'];
export const EVENT_TYPES = ['job.started', 'job.progress', 'job.succeeded', 'job.failed', 'job.canceled'] as const;

export const ASPECT_RATIOS = ['16:9', '9:16', '1:1', '4:5'] as const;
export const RESOLUTIONS = ['720p', '1080p'] as const;

export type Source = { url: string } | { upload_id: string };

export interface Check {
  name: string;
  wanted: string;
  got: string | null;
  ok: boolean | null;
}

export interface JobResult {
  url: string;
  timeline?: string;
  duration_ms?: number | null;
  size_bytes?: number | null;
  checks?: Check[];
  conformant?: boolean | null;
  upstream_url?: string | null;
  sha256?: string | null;
  stored_at?: string | null;
}

export interface Change {
  message: number;
  from_agent_text: boolean;
  summary: string;
  /** How many of job.messages answered this message (in order); absent on jobs recorded before the API kept it. */
  answers?: number;
}

export interface TimelineSegment {
  start_ms: number | null;
  duration_ms: number | null;
  label: string | null;
}

export interface TimelineTrack {
  kind: 'video' | 'audio' | 'text' | 'other';
  type: number | null;
  segments: TimelineSegment[];
}

export interface Timeline {
  duration_ms: number | null;
  width: number | null;
  height: number | null;
  tracks: TimelineTrack[];
}

export interface Usage {
  messages_sent?: number;
  renders?: number;
  upstream_calls?: number;
  credits_before?: number | null;
  credits_after?: number | null;
}

export interface Job {
  id: string;
  status: JobStatus;
  stage: string;
  progress: number;
  instruction: string;
  followups: string[];
  sources: Source[];
  output: Record<string, unknown>;
  language: string;
  metadata: Record<string, unknown>;
  messages: string[];
  result: JobResult | null;
  error: { code: string; message: string; retryable: boolean } | null;
  upstream?: { task_id: string | null; session_id: string | null; render_id: string | null };
  webhook: { url: string; events: string[]; status: string; attempts: number } | null;
  parent_id: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  changes?: Change[];
  messages_sent?: string[];
  timeline?: Timeline | null;
  usage?: Usage | null;
  queue_position?: number | null;
  /** Why a running job is waiting (credits, the upstream's rate limit, its turn on a shared session, admission). */
  waiting?: { reason: string; message: string; since: string } | null;
  batch_id?: string | null;
}

export interface JobEvent {
  id: string;
  seq: number;
  type: string;
  at: string;
  data: Job;
}

export interface JobPage {
  data: Job[];
  next_cursor: string | null;
}

export interface DeliveryAttempt {
  event_id: string;
  type: string;
  attempt: number;
  status_code: number | null;
  error: string | null;
  duration_ms: number | null;
  at: string;
  /** The start of the receiver's answer ('' when it answered no body or was not reached). */
  response_excerpt?: string;
}

export interface Upload {
  id: string;
  filename: string;
  content_type: string;
  size_bytes: number;
  sha256: string;
}

export interface WebhookTestResult {
  status_code: number | null;
  response_body: string;
  duration_ms: number;
  webhook_id: string;
  webhook_timestamp?: string;
  signed_content: string;
  signature: string;
  error: string | null;
}

/** GET /admin/overview, as the operator's route is planned; every part may be missing while it grows. */
/** GET /admin/overview (src/http/schemas/admin.ts): the operator's view of every tenant, computed from Redis. */
export interface AdminOverview {
  /** When the API computed it (it keeps an answer 5 s). */
  generated_at: string;
  /** Each queue, its QUEUE_SHARDS shards added up; waiting includes prioritized entries. */
  queues: { name: string; waiting: number; active: number; delayed: number; failed: number }[];
  /** The last 60 minutes, oldest first; `minute` is ISO 8601 UTC. */
  jobs_per_minute: { minute: string; created: number; succeeded: number; failed: number }[];
  /** Error codes of the hour's failed jobs, most first, over the newest 1,000 failures at most. */
  failures: { code: string; count: number }[];
  /** How many failed jobs the codes were counted over. */
  failures_read: number;
  /** False when the hour held more ended jobs than the API scans: older minutes undercount. */
  complete: boolean;
  /** null numbers: the balance could not be read just now. */
  accounts: { id: string; kind: 'default' | 'token' | 'anonymous'; available: number | null; frozen: number | null; total: number | null; claim_url: string | null }[];
  tenants: { id: string; account: string; max_concurrent_jobs: number | null; rate_limit_per_min: number | null; running: number; queued: number }[];
}

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}
