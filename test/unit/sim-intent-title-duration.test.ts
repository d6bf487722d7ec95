// Simulator instruction parsing: a duration said of a title ("title … for 3 seconds") is the title's, not the video's.
import { describe, expect, it } from 'vitest';
import { parseIntent } from '../../src/sim/intent.js';

describe('sim intent: title durations', () => {
  it.each([
    ['title "Autumn Sale" for 3 seconds', 'Autumn Sale', 3000],
    ['show the text for 2 s', undefined, 2000],
    ['add the caption "Big. Sale." for 4 seconds', 'Big. Sale.', 4000],
  ])('%s → no video length, the title shows %s for %d ms', (text, title, ms) => {
    const intent = parseIntent(text);
    expect(intent.durationMs).toBeUndefined();
    expect(intent.title).toEqual(title === undefined ? { durationMs: ms } : { text: title, durationMs: ms });
  });

  it.each([
    ['make it 15 seconds long', 15_000],
    ['a 20-second promo with music', 20_000],
    ['add a title and make the video for 30 seconds', 30_000],
    ['make a 12 second video with a title "Hi" for 2 seconds', 12_000],
  ])('%s → the video is %d ms', (text, ms) => {
    expect(parseIntent(text).durationMs).toBe(ms);
  });

  it('a title window ("for the first 5 seconds") is still the title\'s', () => {
    expect(parseIntent('title "Urban Dreams" for the first 5 seconds')).toMatchObject({ title: { text: 'Urban Dreams', durationMs: 5000 } });
    expect(parseIntent('title "Urban Dreams" for the first 5 seconds').durationMs).toBeUndefined();
  });
});
