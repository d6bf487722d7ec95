// stub
import type { Benchmark } from './lib/report.js';
export const webhooks: Benchmark = { name: 'webhooks', title: 'webhooks', run: async () => { throw new Error('todo'); } };
