// Which modules a piece of the service loads: a child process (tsx) counts the resolutions a filter accepts while it runs.
import { spawn } from 'node:child_process';
import { once } from 'node:events';

/**
 * Runs `body` (ESM, top-level await, cwd the project; `compose`, `loadConfig` and `createLogger` from src/ are in scope)
 * in a fresh Node process and answers how many module resolutions made meanwhile `counts` accepts. `counts` is the
 * source of a function of the resolved URL and the importing module's URL, run in that process.
 */
export async function countModulesResolved(counts: string, body: string): Promise<number> {
  const script = `
    import { registerHooks } from 'node:module';
    const counts = ${counts};
    let counted = 0;
    registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); if (counts(r.url, context.parentURL ?? '')) counted++; return r; } });
    const { loadConfig } = await import('./src/app/config.ts');
    const { compose } = await import('./src/app/compose.ts');
    const { createLogger } = await import('./src/observability/logger.ts');
    ${body}
    console.log('COUNTED_MODULES=' + counted);
    process.exit(0);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  await once(child, 'exit');
  const match = /COUNTED_MODULES=(\d+)/.exec(out);
  if (!match) throw new Error(`child printed no count: ${out}`);
  return Number(match[1]);
}
