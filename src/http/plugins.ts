// The API's route groups beyond jobs and health, wired to the services they need.
import type { FastifyInstance } from 'fastify';
import type { Services } from '../services.js';
import { creditsRoutes } from './routes/credits.js';
import { docsRoutes } from './routes/docs.js';
import { eventRoutes } from './routes/events.js';
import { uploadRoutes } from './routes/uploads.js';
import { webhookRoutes } from './routes/webhooks.js';

export function apiPlugins(services: Services): ((app: FastifyInstance) => Promise<void> | void)[] {
  return [eventRoutes(services), webhookRoutes(services), uploadRoutes(services), creditsRoutes(services), docsRoutes()];
}
