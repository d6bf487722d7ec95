// interpretResponse on the render proxy's {success:false,error}: the same kind whether it comes with a 4xx or with HTTP 200.
import { describe, expect, it } from 'vitest';
import { NemoError, type NemoEndpoint, type NemoErrorKind } from '../../src/nemo/errors.js';
import { interpretResponse } from '../../src/nemo/http.js';
import { EXPORT_BLOCKED_MESSAGE } from '../../src/sim/context.js';

/** [endpoint, the proxy's message, the status its 4xx dialect uses, the kind both dialects must give]. */
const ROWS: [NemoEndpoint, string, number, NemoErrorKind][] = [
  ['render_submit', 'session not found', 404, 'session_missing'],
  ['render_submit', EXPORT_BLOCKED_MESSAGE, 402, 'export_blocked'],
  ['render_submit', 'insufficient credits', 403, 'no_credits'],
  ['render_submit', 'render id render_1 already exists', 409, 'duplicate_render'],
  // One active export per session (§2.8): another export running is a wait on the same id, not a taken id.
  ['render_submit', 'an export is already running for this session', 409, 'transient'],
  ['render_poll', 'render not found', 404, 'not_found'],
  ['render_cancel', 'render not found', 404, 'not_found'],
  ['render_download', 'render not found', 404, 'not_found'],
  // What no word places stays a refusal, in both dialects.
  ['render_submit', 'invalid request: draft: draft is required', 400, 'rejected'],
  ['render_cancel', 'render already completed', 409, 'rejected'],
];

function kindOf(endpoint: NemoEndpoint, status: number, body: unknown): NemoError {
  try {
    interpretResponse(endpoint, status, {}, JSON.stringify(body));
  } catch (err) {
    if (err instanceof NemoError) return err;
    throw err;
  }
  throw new Error('expected interpretResponse to throw');
}

describe('render proxy failures by message and status (§1, §6.1)', () => {
  for (const [endpoint, message, status, kind] of ROWS) {
    for (const http of [status, 200]) {
      it(`${endpoint} HTTP ${http} "${message.slice(0, 40)}" → ${kind}`, () => {
        const err = kindOf(endpoint, http, { success: false, error: message });
        expect(err.kind).toBe(kind);
        expect(err.httpStatus).toBe(http);
        expect(err.endpoint).toBe(endpoint);
        expect(err.message).toContain(message.slice(0, 40));
      });
    }
  }

  it('a status or code that already says more is not overridden by the words', () => {
    expect(kindOf('render_submit', 429, { success: false, error: 'session not found' }).kind).toBe('rate_limited');
    expect(kindOf('render_submit', 401, { success: false, error: 'insufficient credits' }).kind).toBe('auth');
    expect(kindOf('render_submit', 503, { success: false, error: 'session not found' }).kind).toBe('transient');
  });

  it('only the render proxy is read by its words: other endpoints keep the envelope table', () => {
    expect(kindOf('credits', 200, { success: false, error: 'insufficient credits' }).kind).toBe('rejected');
    expect(kindOf('state', 200, { code: 7, message: 'session not found' }).kind).toBe('rejected');
  });
});
