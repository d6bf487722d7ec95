// Turns zod failures into the contract's 400 VALIDATION_FAILED with a message that names the field.
import type { z } from 'zod';
import { AppError } from '../errors.js';

export function formatIssues(issues: readonly z.core.$ZodIssue[], root = 'body'): string {
  return issues
    .slice(0, 5)
    .map((issue) => {
      const path = issue.path.length > 0 ? issue.path.map(String).join('.') : root;
      if (issue.code === 'unrecognized_keys') return `${path}: unknown field(s) ${issue.keys.join(', ')}`;
      if (issue.code === 'invalid_union') return `${path}: must be {"url": "https://…"} or {"upload_id": "upl_…"}`;
      return `${path}: ${issue.message}`;
    })
    .join('; ');
}

export function parseWith<S extends z.ZodType>(schema: S, value: unknown, root = 'body'): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new AppError('VALIDATION_FAILED', formatIssues(parsed.error.issues, root));
  return parsed.data;
}
