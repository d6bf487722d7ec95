// stub
import type { Benchmark } from './lib/report.js';
export const latency: Benchmark = { name: 'latency', title: 'latency', run: async () => { throw new Error('todo'); } };
