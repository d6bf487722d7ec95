// Turns zod failures into the contract's 400 VALIDATION_FAILED with a message that names the field.
import type { z } from 'zod';
import { AppError } from '../core/errors.js';

/** One issue as `path: what is wrong` (the root name when the issue is about the whole value). */
export function describeIssue(issue: { code: string; path: readonly PropertyKey[]; message: string; keys?: readonly string[] | undefined }, root: string): string {
  const path = issue.path.length > 0 ? issue.path.map(String).join('.') : root;
  if (issue.code === 'unrecognized_keys') return `${path}: unknown field(s) ${listSome(issue.keys ?? [])}`;
  if (issue.code === 'invalid_union' && /(^|\.)sources\.\d+$/.test(path)) return `${path}: must be {"url": "https://…"} or {"upload_id": "upl_…"}`;
  return `${path}: ${issue.message}`;
}

/** Names shown of an unknown-field list: enough to find the typo, not an echo of a body stuffed with keys. */
const SHOWN_NAMES = 10;

function listSome(names: readonly string[]): string {
  const shown = names.slice(0, SHOWN_NAMES).map((n) => (n.length > 64 ? `${n.slice(0, 64)}…` : n));
  return names.length > SHOWN_NAMES ? `${shown.join(', ')} and ${names.length - SHOWN_NAMES} more` : shown.join(', ');
}

export function formatIssues(issues: readonly z.core.$ZodIssue[], root = 'body'): string {
  return issues
    .slice(0, 5)
    .map((issue) => describeIssue({ ...issue, keys: issue.code === 'unrecognized_keys' ? issue.keys : undefined }, root))
    .join('; ');
}

export function parseWith<S extends z.ZodType>(schema: S, value: unknown, root = 'body'): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new AppError('VALIDATION_FAILED', formatIssues(parsed.error.issues, root));
  return parsed.data;
}
