// stub
import type { Benchmark } from './lib/report.js';
export const inFlight: Benchmark = { name: 'in-flight', title: 'in-flight', run: async () => { throw new Error('todo'); } };
