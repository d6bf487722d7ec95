// Writes openapi.yaml from the route schemas (npm run openapi); a test fails when the committed file drifts.
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { openApiDocument } from '../src/http/openapi-document.js';

// Quoted as YAML 1.1 needs: a 1.1 reader (PyYAML, many generators) took the bare aspect ratio 16:9 for the number 969.
// Every value that needs no quotes in either version stays bare, and 1.2 readers read the same document.
writeFileSync(new URL('../openapi.yaml', import.meta.url), stringify(await openApiDocument(), { lineWidth: 0, version: '1.1' }));
console.log('openapi.yaml written');
