// zod schemas for every upstream REST body (§1, §2) and the normalised types the rest of nemo-relay sees.
import { z } from 'zod';

/** Envelope codes may arrive as numbers or numeric strings; anything else is ignored. */
const codeField = z.union([z.number(), z.string().regex(/^-?\d+$/).transform(Number)]).optional().catch(undefined);

/** Both envelopes (§1): {code,message,data} and the render proxy's {success,error,data}. */
export const envelopeSchema = z.looseObject({
  code: codeField,
  success: z.boolean().optional().catch(undefined),
  data: z.unknown().optional(),
});

/** Ids may be numeric in JSON (19-digit session ids); http.ts keeps their source text, so accept both. */
const idField = z.union([z.string().min(1), z.number().transform(String)]);
const optString = z.string().nullish();
const optNumber = z.number().nullish();

export const anonymousTokenSchema = z.looseObject({
  token: z.string().min(1),
  user_id: optString,
  userId: optString,
  expires_at: optString,
  expiresAt: optString,
  credits: optNumber,
});

export const createSessionSchema = z.looseObject({
  task_id: idField.optional(),
  taskId: idField.optional(),
  session_id: idField.optional(),
  sessionId: idField.optional(),
});

export const claimTokenSchema = z.looseObject({
  claim_token: z.string().min(1).optional(),
  claimToken: z.string().min(1).optional(),
  expires_in: z.number().optional(),
  expiresIn: z.number().optional(),
});

export const creditsSchema = z.looseObject({
  available: z.number(),
  frozen: z.number().nullish(),
  total: z.number().nullish(),
});

const uploadedFileWire = z.looseObject({
  filename: optString,
  file_type: optString,
  fileType: optString,
  cdn_url: optString,
  cdnUrl: optString,
  url: optString,
  duration: optNumber,
  width: optNumber,
  height: optNumber,
});

/** `data.files[]` (§2.4) or the low-trust generated variant `data.uploaded_files[].url` (S9). */
export const uploadResponseSchema = z.looseObject({
  files: z.array(uploadedFileWire).optional(),
  uploaded_files: z.array(uploadedFileWire).optional(),
  uploadedFiles: z.array(uploadedFileWire).optional(),
  /** §2.4 answers true; false (§6.9: a URL upload may finish later) means state does not list the files yet. */
  session_state_applied: z.unknown().optional(),
  sessionStateApplied: z.unknown().optional(),
});

export interface UploadedFile {
  filename: string;
  fileType: string;
  cdnUrl: string;
  durationS?: number;
  width?: number;
  height?: number;
  /** The upload answered `session_state_applied: false`: the session's state lists the file only once it is taken in. */
  statePending?: true;
}

const EXT_TYPES: Record<string, string> = {
  mp4: 'video', mov: 'video', avi: 'video', webm: 'video', mkv: 'video',
  jpg: 'image', jpeg: 'image', png: 'image', gif: 'image', webp: 'image',
  mp3: 'audio', wav: 'audio', m4a: 'audio', aac: 'audio',
};

function basenameOf(pathOrUrl: string): string {
  const noQuery = pathOrUrl.split(/[?#]/)[0] ?? pathOrUrl;
  const last = noQuery.split('/').pop() ?? noQuery;
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

export function normaliseUploaded(data: z.infer<typeof uploadResponseSchema>): UploadedFile[] {
  const wire = data.files ?? data.uploaded_files ?? data.uploadedFiles ?? [];
  // Only an explicit false counts: an answer without the flag is taken as applied, as §2.4's is.
  const pending = (data.session_state_applied ?? data.sessionStateApplied) === false;
  const out: UploadedFile[] = [];
  for (const f of wire) {
    const cdnUrl = f.cdn_url ?? f.cdnUrl ?? f.url;
    if (!cdnUrl) continue; // a file without a URL cannot be used in a draft; the caller sees it missing
    const filename = f.filename ?? basenameOf(cdnUrl);
    const ext = filename.split('.').pop()?.toLowerCase() ?? '';
    const file: UploadedFile = { filename, fileType: f.file_type ?? f.fileType ?? EXT_TYPES[ext] ?? 'unknown', cdnUrl };
    if (typeof f.duration === 'number') file.durationS = f.duration;
    if (typeof f.width === 'number') file.width = f.width;
    if (typeof f.height === 'number') file.height = f.height;
    if (pending) file.statePending = true;
    out.push(file);
  }
  return out;
}

/** Draft short keys (§2.6): t tracks, tt track type, sg segments, d duration ms, m metadata. Segment fields are unknown [A]. */
export const trackSchema = z.looseObject({
  tt: z.number().nullish(),
  sg: z.array(z.unknown()).nullish(),
  d: z.number().nullish(),
});
export const draftSchema = z.looseObject({
  t: z.array(trackSchema).nullish(),
  d: z.number().nullish(),
  m: z.record(z.string(), z.unknown()).nullish(),
});
export type Draft = z.infer<typeof draftSchema>;
export type Track = z.infer<typeof trackSchema>;

export const stateResponseSchema = z.looseObject({
  session_id: idField.optional(),
  sessionId: idField.optional(),
  task_id: idField.nullish(),
  taskId: idField.nullish(),
  state: z.looseObject({ draft: z.unknown().optional() }).nullish(),
});

export interface SessionState {
  sessionId: string;
  taskId: string | null;
  draft: Draft | null;
  /** The whole `data` object of /state (§2.6), for reconciliation and fingerprints. */
  raw: Record<string, unknown>;
}
