// server_error's two bodies (nginx HTML, truncated JSON): chosen per fault, else alternating per simulator, reset by /_sim/reset.
import { describe, expect, it } from 'vitest';
import { call, newSession, simSuite, startSim, type Reply } from '../fixtures/sim/sim-client.js';
import { caught, makeClient } from '../unit/nemo-test-server.js';

const suite = simSuite();

const credits = (base: string, token: string) => call(base, 'GET', '/api/credits/balance/simple', { token });
const formOf = (r: Reply) => (r.text.includes('<center>nginx</center>') ? 'html' : r.text.startsWith('{"code":0,"data":{') && r.json === undefined ? 'json' : 'other');

describe('sim server_error form', () => {
  it.each(['html', 'json'] as const)('form %s: every hit of the fault answers that form', async (form) => {
    const { token } = await newSession(suite.base);
    suite.sim.injectFault({ kind: 'server_error', endpoint: 'credits', status: 502, times: 3, form });
    const replies = [await credits(suite.base, token), await credits(suite.base, token), await credits(suite.base, token)];
    expect(replies.map((r) => [r.status, formOf(r)])).toEqual(Array(3).fill([502, form]));
    expect(replies[0]!.headers['content-type']).toMatch(form === 'html' ? /text\/html/ : /application\/json/);
    // Either way the client reads a retryable 5xx.
    suite.sim.injectFault({ kind: 'server_error', endpoint: 'credits', status: 503, form });
    expect(await caught(() => makeClient(suite.base).getCredits(token))).toMatchObject({ kind: 'transient', httpStatus: 503 });
  });

  it('without a form the two alternate, counted per simulator and restarted by /_sim/reset', async () => {
    const other = await startSim();
    try {
      const a = await newSession(suite.base);
      const b = await newSession(other.url);
      suite.sim.injectFault({ kind: 'server_error', endpoint: 'credits', times: 3 });
      other.injectFault({ kind: 'server_error', endpoint: 'credits', times: 3 });
      const forms: string[] = [];
      // Interleaved: another simulator's server errors must not shift this one's alternation.
      for (let i = 0; i < 3; i++) {
        forms.push(formOf(await credits(suite.base, a.token)));
        expect(formOf(await credits(other.url, b.token))).toBe(forms.at(-1));
      }
      expect(forms).toEqual(['html', 'json', 'html']);

      // A form-less fault after a chosen one still starts where the alternation stands (chosen forms do not count).
      suite.sim.injectFault({ kind: 'server_error', endpoint: 'credits', form: 'json' });
      expect(formOf(await credits(suite.base, a.token))).toBe('json');
      expect((await call(suite.base, 'POST', '/_sim/reset')).status).toBe(200);
      const c = await newSession(suite.base);
      suite.sim.injectFault({ kind: 'server_error', endpoint: 'credits' });
      expect(formOf(await credits(suite.base, c.token))).toBe('html');
    } finally {
      await other.close();
    }
  });

  it('form belongs to server_error only', async () => {
    expect(() => suite.sim.injectFault({ kind: 'rate_limited', form: 'html' })).toThrow(/server_error only/);
    const res = await call(suite.base, 'POST', '/_sim/faults', { body: { kind: 'server_error', form: 'xml' } });
    expect(res.status).toBe(400);
  });
});
