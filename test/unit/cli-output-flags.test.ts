// The output flags of submit and batch: what the API would refuse or what would be lost is a usage error at once.
import { describe, expect, it } from 'vitest';
import { CliError } from '../../src/cli/io.js';
import { outputFromFlags } from '../../src/cli/output-flags.js';

const refusal = (flags: Parameters<typeof outputFromFlags>[0]) => {
  try {
    outputFromFlags(flags);
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(2);
    return (err as CliError).message;
  }
  throw new Error(`accepted ${JSON.stringify(flags)}`);
};

describe('nemo-relay output flags', () => {
  it('takes a volume with a music style', () => {
    expect(outputFromFlags({ music: 'lofi', 'music-volume': '0.4', duration: '15' })).toEqual({ music: { style: 'lofi', volume: 0.4 }, duration_s: 15 });
    expect(outputFromFlags({ music: 'none' })).toEqual({ music: 'none' });
  });

  it('refuses --music-volume beside --music auto or none (the API takes a volume only with a style), or alone', () => {
    expect(refusal({ music: 'auto', 'music-volume': '0.5' })).toBe('--music-volume needs --music "<style>", not --music auto');
    expect(refusal({ music: 'none', 'music-volume': '0.5' })).toBe('--music-volume needs --music "<style>", not --music none');
    expect(refusal({ 'music-volume': '0.5' })).toBe('--music-volume needs --music "<style>"');
  });

  it('refuses an empty or blank number rather than ignoring it (or reading it as 0)', () => {
    expect(refusal({ duration: '' })).toBe('--duration must be a number, not ""');
    expect(refusal({ duration: ' ' })).toMatch(/^--duration must be a number/);
    expect(refusal({ music: 'lofi', 'music-volume': '' })).toMatch(/^--music-volume must be a number/);
  });
});
