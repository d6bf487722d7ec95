// The texts sent to the agent: the instruction (with the output wishes the agent must know) and then each follow-up.
import type { CreateJobBody } from '../jobs/schemas.js';

/**
 * Aspect ratio shapes the generation itself, so the agent is told in words; resolution and quality
 * only matter to the export and go into the render request instead (protocol §2.8).
 */
export function buildAgentMessages(body: Pick<CreateJobBody, 'instruction' | 'followups' | 'output'>): string[] {
  const hints: string[] = [];
  if (body.output.aspect_ratio) hints.push(`aspect ratio ${body.output.aspect_ratio}`);
  const first = hints.length > 0 ? `${body.instruction}\n\n(Output: ${hints.join(', ')}.)` : body.instruction;
  return [first, ...body.followups];
}
