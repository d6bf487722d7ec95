// The API's route groups beyond jobs and health, wired to the services they need.
import type { FastifyInstance } from 'fastify';
import type { Services } from '../services.js';
import { eventRoutes } from './routes/events.js';
import { webhookRoutes } from './routes/webhooks.js';

export function apiPlugins(services: Services): ((app: FastifyInstance) => Promise<void> | void)[] {
  return [eventRoutes(services), webhookRoutes(services)];
}
