// Writes openapi.yaml from the zod schemas (npm run openapi); a test fails when the committed file drifts.
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { buildOpenApi } from '../src/http/openapi.js';

writeFileSync(new URL('../openapi.yaml', import.meta.url), stringify(buildOpenApi(), { lineWidth: 0 }));
console.log('openapi.yaml written');
