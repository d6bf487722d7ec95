// Scenario sseFraming: /run_sse frames with CRLF, CR, no space after data:, in 5-byte pieces or all mixed; the client reads the same run.
import { describe, expect, it } from 'vitest';
import type { AgentRunResult } from '../../src/nemo/sse.js';
import type { SimScenario } from '../../src/sim/index.js';
import { newSession, runSse, simSuite } from '../fixtures/sim/sim-client.js';
import { makeClient } from '../unit/nemo-test-server.js';

const suite = simSuite();
const RUN = { idleMs: 5_000, maxMs: 10_000 };
// Multi-byte characters in the title reach the state deltas: 'fragmented' splits some of them across writes.
const GENERATE = 'make a 10-second video of a city at dusk with lo-fi music and the title "Nuit à Café ☕"';
const EDIT = 'make the music quieter';

/** What the client makes of a generation then an edit on a fresh session (the counts of frames left out). */
async function clientRuns(scenario: Partial<SimScenario>): Promise<Omit<AgentRunResult, 'heartbeats' | 'events'>[]> {
  suite.sim.setScenario(scenario);
  const client = makeClient(suite.base);
  const { token, sessionId } = await newSession(suite.base);
  const out = [];
  for (const text of [GENERATE, EDIT]) {
    const { heartbeats: _h, events: _e, ...run } = await client.runAgent(token, sessionId, text, RUN);
    // Each anonymous user's media lives under its own CDN folder.
    out.push(JSON.parse(JSON.stringify(run).replace(/\/cdn\/\d+\//g, '/cdn/<user>/')) as typeof run);
  }
  return out;
}

describe('sim sseFraming', () => {
  it('lays the frames out as asked on the wire', async () => {
    const raw = async (sseFraming: SimScenario['sseFraming']) => {
      suite.sim.setScenario({ sseFraming });
      const { token, sessionId } = await newSession(suite.base);
      return (await runSse(suite.base, token, sessionId, GENERATE)).text;
    };
    expect(await raw('lf')).toMatch(/^data: \{/);
    const crlf = await raw('crlf');
    expect(crlf).toMatch(/\r\n\r\n/);
    expect(crlf.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
    const cr = await raw('cr');
    expect(cr).toMatch(/\r\r/);
    expect(cr).not.toMatch(/\n/);
    const compact = await raw('compact');
    expect(compact).toMatch(/^data:\{/);
    expect(compact).not.toMatch(/data: /);
  });

  it.each(['crlf', 'cr', 'compact', 'fragmented', 'mixed'] as const)('%s: the client reads the same texts, calls, results and state as from lf', async (sseFraming) => {
    const plain = await clientRuns({ sseFraming: 'lf', eventCasing: 'camel' });
    const framed = await clientRuns({ sseFraming, eventCasing: 'camel' });
    expect(framed).toEqual(plain);
    expect(JSON.stringify(plain)).toContain('Nuit à Café ☕');
    expect(plain[0]!.toolCalls.length).toBeGreaterThan(0);
  });

  it('fragmented: an old-ADK error cut by its line breaks is still the run error', async () => {
    suite.sim.setScenario({ sseFraming: 'fragmented' });
    suite.sim.injectFault({ kind: 'stream_error', multiline: true });
    const { token, sessionId } = await newSession(suite.base);
    const run = await makeClient(suite.base).runAgent(token, sessionId, GENERATE, RUN);
    expect(run.error).toEqual({ message: '1 validation error for generate_video_with_seedance…' });
  });
});
