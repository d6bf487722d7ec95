// The admin API's tenant bodies: each bad upstream token gets the one message that says what is wrong with it.
import { describe, expect, it } from 'vitest';
import { upstreamRequestSchema } from '../../src/tenants/requests.js';

const problems = (token: string) => {
  const parsed = upstreamRequestSchema.safeParse({ token });
  return parsed.success ? [] : parsed.error.issues.flatMap((i) => ('errors' in i ? (i.errors as { message: string }[][]).flat().map((e) => e.message) : [i.message]));
};

describe('upstream token', () => {
  it('an empty token is too short, not "contains whitespace"', () => {
    const messages = problems('');
    expect(messages.join('; ')).toMatch(/>=8 characters/);
    expect(messages.join('; ')).not.toMatch(/whitespace/);
  });

  it('a token with a space says so; a good one passes', () => {
    expect(problems('nmv_usr_ abcdef').join('; ')).toMatch(/must not contain whitespace/);
    expect(problems('nmv_usr_abcdef0123')).toEqual([]);
  });
});
