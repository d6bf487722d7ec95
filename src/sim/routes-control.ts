// Control routes (/_sim/*) for tests that drive a simulator in another process, and the fake CDN.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { faultSpecSchema } from './faults.js';
import { fileTypeOf, sampleMp4Size, sampleMp4Stream } from './media.js';
import { scenarioPatchSchema } from './scenario.js';
import type { Simulator } from './simulator-types.js';
import type { FaultSpec } from './types.js';

const control = { config: { endpoint: 'control' } } as const;

export function registerControlRoutes(app: FastifyInstance, sim: () => Simulator): void {
  app.get('/_sim/log', control, async () => ({ entries: sim().log.entries() }));
  app.delete('/_sim/log', control, async () => {
    sim().log.clear();
    return { ok: true };
  });

  app.get('/_sim/scenario', control, async () => ({ scenario: sim().scenario() }));
  app.post('/_sim/scenario', control, async (req, reply) => {
    const patch = scenarioPatchSchema.safeParse(req.body ?? {});
    if (!patch.success) return reply.code(400).send({ error: z.prettifyError(patch.error) });
    sim().setScenario(patch.data);
    return { scenario: sim().scenario() };
  });

  app.get('/_sim/faults', control, async () => ({ faults: sim().faults() }));
  app.post('/_sim/faults', control, async (req, reply) => {
    const spec = faultSpecSchema.safeParse(req.body ?? {});
    if (!spec.success) return reply.code(400).send({ error: z.prettifyError(spec.error) });
    sim().injectFault(spec.data as FaultSpec);
    return { faults: sim().faults() };
  });
  app.delete('/_sim/faults', control, async () => {
    sim().clearFaults();
    return { faults: [] };
  });

  app.post('/_sim/reset', control, async () => {
    sim().reset();
    return { ok: true };
  });
  app.get('/_sim/sessions', control, async () => ({ sessions: sim().sessions() }));
  app.post('/_sim/credits', control, async (req, reply) => {
    const body = z.object({ available: z.number().int().min(0), token: z.string().min(1).optional() }).strict().safeParse(req.body ?? {});
    if (!body.success) return reply.code(400).send({ error: z.prettifyError(body.error) });
    if (!sim().setCredits(body.data.available, body.data.token)) return reply.code(404).send({ error: 'unknown token' });
    return { ok: true };
  });
  app.post('/_sim/renders/complete', control, async () => {
    sim().completeRendersNow();
    return { ok: true };
  });

  // Uploaded and generated media "live" here; videos answer with the sample MP4, the rest with a few bytes.
  app.get('/cdn/:session/:file', { config: { endpoint: 'cdn' } }, async (req, reply) => {
    const { file } = req.params as { file: string };
    if (fileTypeOf(file) === 'video') {
      return reply.type('video/mp4').header('content-length', String(sampleMp4Size())).send(sampleMp4Stream());
    }
    return reply.type('application/octet-stream').send(Buffer.from('nemovideo-sim placeholder media\n'));
  });
}
