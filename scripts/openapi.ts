// Writes openapi.yaml from the route schemas (npm run openapi); a test fails when the committed file drifts.
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { openApiDocument } from '../src/http/openapi-document.js';

writeFileSync(new URL('../openapi.yaml', import.meta.url), stringify(await openApiDocument(), { lineWidth: 0 }));
console.log('openapi.yaml written');
