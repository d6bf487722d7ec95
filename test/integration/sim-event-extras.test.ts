// Scenario eventExtras: ADK's other event fields (thought parts, inlineData, turnComplete…) in both casings, read by the client and a whole job.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/jobs/schemas.js';
import type { SimScenario } from '../../src/sim/index.js';
import { events, newSession, runSse, simSuite } from '../fixtures/sim/sim-client.js';
import { startStack, waitForFinished, type Stack } from '../helpers/stack.js';
import { makeClient } from '../unit/nemo-test-server.js';

const suite = simSuite();
const RUN = { idleMs: 5_000, maxMs: 10_000 };
const GENERATE = 'make a 10-second video of a city at dusk with lo-fi music';
const EDIT = 'add the title "Night Owls"';

type Raw = Record<string, unknown>;
type RawPart = Record<string, unknown>;

/** Every part of every ADK event of a raw stream (either casing: `content.parts` is the same in both). */
function partsOf(evs: Raw[]): RawPart[] {
  return evs.flatMap((e) => ((e.content as { parts?: RawPart[] } | undefined)?.parts ?? []));
}

/** The client's texts for a generation then an edit, on a fresh session. */
async function clientTexts(scenario: Partial<SimScenario>): Promise<string[][]> {
  suite.sim.setScenario(scenario);
  const client = makeClient(suite.base);
  const { token, sessionId } = await newSession(suite.base);
  const out: string[][] = [];
  for (const text of [GENERATE, EDIT]) {
    const r = await client.runAgent(token, sessionId, text, RUN);
    expect(r.error).toBeNull();
    out.push(r.texts);
  }
  return out;
}

describe('sim eventExtras', () => {
  it('is off by default: no thought parts, no turnComplete', async () => {
    expect(suite.sim.scenario().eventExtras).toBe(false);
    const { token, sessionId } = await newSession(suite.base);
    const evs = events((await runSse(suite.base, token, sessionId, GENERATE)).text);
    expect(partsOf(evs).some((p) => p.thought !== undefined)).toBe(false);
    expect(evs.some((e) => 'turnComplete' in e || 'branch' in e)).toBe(false);
  });

  it.each(['camel', 'snake'] as const)('%s: the client returns the same texts as without extras, and no thought text', async (eventCasing) => {
    const plain = await clientTexts({ eventCasing, eventExtras: false });
    const rich = await clientTexts({ eventCasing, eventExtras: true });
    expect(rich).toEqual(plain);
    expect(rich.flat().length).toBeGreaterThan(0);
    expect(rich.flat().join('\n')).not.toMatch(/reasoning privately|Planning the next step/);
  });

  it('camel: the fields ADK ≥ 1.0 would send, where it would send them', async () => {
    suite.sim.setScenario({ eventExtras: true, silentEdits: 'always' });
    const { token, sessionId } = await newSession(suite.base);
    const gen = events((await runSse(suite.base, token, sessionId, GENERATE)).text).filter((e) => e.type === undefined);
    const parts = partsOf(gen);
    expect(parts.filter((p) => p.thought === true).length).toBeGreaterThan(0);
    expect(parts.some((p) => typeof p.thoughtSignature === 'string' && p.functionCall !== undefined)).toBe(true);
    expect(parts.some((p) => (p.inlineData as { mimeType?: string } | undefined)?.mimeType === 'image/png')).toBe(true);
    // The session's first run starts with the root agent's transfer to nemo_agent.
    expect(gen[0]).toMatchObject({ author: 'nemo_root', content: { parts: [{ thought: true }, { functionCall: { name: 'transfer_to_agent' } }] } });
    expect(gen[1]).toMatchObject({ author: 'nemo_root', actions: { transferToAgent: 'nemo_agent' } });
    const last = gen.at(-1)!;
    expect(last).toMatchObject({ turnComplete: true, finishReason: 'STOP', actions: { escalate: true } });
    expect(gen.filter((e) => e.turnComplete === true)).toHaveLength(1);
    for (const e of gen) expect(e).toMatchObject({ branch: 'nemo_root.nemo_agent', customMetadata: { nemo_message_kind: 'generation' } });
    const model = gen.filter((e) => (e.content as { role?: string } | undefined)?.role === 'model');
    for (const e of model) expect(e).toMatchObject({ finishReason: 'STOP', interrupted: false, modelVersion: expect.any(String), usageMetadata: expect.any(Object) });

    // A silent edit: skipSummarization on the tool result, which is the last event; no transfer on a later run.
    const edit = events((await runSse(suite.base, token, sessionId, EDIT)).text).filter((e) => e.type === undefined);
    expect(edit.some((e) => e.author === 'nemo_root')).toBe(false);
    expect(edit.at(-1)).toMatchObject({ turnComplete: true, actions: { skipSummarization: true, escalate: true } });
  });

  it('snake: pre-1.0 names for every extra (turn_complete, inline_data.mime_type, thought_signature…)', async () => {
    suite.sim.setScenario({ eventExtras: true, eventCasing: 'snake', silentEdits: 'always' });
    const { token, sessionId } = await newSession(suite.base);
    const raw = (await runSse(suite.base, token, sessionId, GENERATE)).text + (await runSse(suite.base, token, sessionId, EDIT)).text;
    for (const key of ['turn_complete', 'finish_reason', 'model_version', 'custom_metadata', 'usage_metadata', 'inline_data', 'mime_type', 'thought_signature', 'transfer_to_agent', 'skip_summarization', '"branch"', '"interrupted"', '"escalate"']) {
      expect(raw).toContain(key);
    }
    for (const key of ['turnComplete', 'finishReason', 'modelVersion', 'customMetadata', 'inlineData', 'mimeType', 'thoughtSignature', 'transferToAgent', 'skipSummarization']) {
      expect(raw).not.toContain(key);
    }
  });

  it('typed events never carry thought text', async () => {
    suite.sim.setScenario({ eventExtras: true, eventStyle: 'typed' });
    const { token, sessionId } = await newSession(suite.base);
    expect((await runSse(suite.base, token, sessionId, GENERATE)).text).not.toMatch(/reasoning privately/);
  });

  it('streaming partial chunks never carry thought text', async () => {
    suite.sim.setScenario({ eventExtras: true });
    const { token, sessionId } = await newSession(suite.base);
    const evs = events((await runSse(suite.base, token, sessionId, GENERATE, { streaming: true })).text);
    const chunks = evs.filter((e) => e.partial === true);
    expect(chunks.length).toBeGreaterThan(0);
    expect(JSON.stringify(chunks)).not.toMatch(/reasoning privately/);
    expect(chunks.some((e) => 'turnComplete' in e || 'finishReason' in e)).toBe(false);
  });

  it.each([
    { errorCode: undefined, code: 'MALFORMED_FUNCTION_CALL' },
    { errorCode: 'SAFETY', code: 'SAFETY' },
  ] as const)('agent_error_event with errorCode $errorCode → the client sees code $code', async ({ errorCode, code }) => {
    for (const eventExtras of [false, true]) {
      suite.sim.setScenario({ eventExtras });
      const { token, sessionId } = await newSession(suite.base);
      suite.sim.injectFault({ kind: 'agent_error_event', ...(errorCode ? { errorCode } : {}) });
      const r = await makeClient(suite.base).runAgent(token, sessionId, GENERATE, RUN);
      expect(r.error).toMatchObject({ code });
      expect(r.texts).toEqual([]);
    }
  });

  it('errorCode belongs to agent_error_event only', () => {
    expect(() => suite.sim.injectFault({ kind: 'stream_error', errorCode: 'SAFETY' })).toThrow(/agent_error_event only/);
    expect(() => suite.sim.injectFault({ kind: 'stream_error_json', multiline: true })).toThrow(/stream_error only/);
  });
});

describe('a relay job against eventExtras', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ scenario: { silentEdits: 'never', eventExtras: true, tokenIpLimit: 1_000 } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it.each(['camel', 'snake'] as const)('%s: succeeds, and job.messages hold no thought text', async (eventCasing) => {
    stack.sim.setScenario({ eventCasing });
    const created = await stack.api<Job>('POST', '/v1/jobs', { instruction: GENERATE, followups: [EDIT] });
    expect(created.status).toBe(202);
    const job = await waitForFinished(stack, created.body.id, 30_000);
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    expect(job.messages.length).toBeGreaterThan(0);
    expect(job.messages.join('\n')).not.toMatch(/reasoning privately|Planning the next step/);
    // Each run's lead-in and its closing answer, nothing else.
    expect(job.messages).toHaveLength(4);
    expect(job.messages).toEqual(expect.arrayContaining(stack.sim.session(job.upstream.session_id!)!.replies));
  });
});
