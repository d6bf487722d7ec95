// stub
import type { Benchmark } from './lib/report.js';
export const orchestration: Benchmark = { name: 'orchestration', title: 'orchestration', run: async () => { throw new Error('todo'); } };
