// stub
import type { Benchmark } from './lib/report.js';
export const uploads: Benchmark = { name: 'uploads', title: 'uploads', run: async () => { throw new Error('todo'); } };
