// The upload resource as the API returns it (contract §5).
import { z } from 'zod';

export const uploadResponseSchema = z.object({
  id: z.string(),
  filename: z.string(),
  content_type: z.string(),
  size_bytes: z.number().int(),
  sha256: z.string(),
});
export type UploadResponse = z.infer<typeof uploadResponseSchema>;
