// The tests' MONITOR helper reads Redis's quoted, escaped arguments back exactly.
import { describe, expect, it } from 'vitest';
import { parseMonitorLine } from '../helpers/redis-monitor.js';

describe('parseMonitorLine', () => {
  it('reads the arguments and the source of a client command and of a script call', () => {
    expect(parseMonitorLine('+1796030070.405276 [0 127.0.0.1:46958] "get" "nr:{t}:credits-paused"')).toEqual({
      args: ['get', 'nr:{t}:credits-paused'],
      source: '127.0.0.1:46958',
    });
    expect(parseMonitorLine('+1796030070.405306 [0 lua] "SET" "k" ""')).toEqual({ args: ['SET', 'k', ''], source: 'lua' });
  });

  it('undoes the escapes Redis writes (quotes, backslashes, control characters, \\xHH)', () => {
    const line = String.raw`+1.5 [3 unix:/tmp/r.sock] "set" "say \"hi\"\\" "a\r\nb\tc" "\x00\xff"`;
    expect(parseMonitorLine(line)?.args).toEqual(['set', 'say "hi"\\', 'a\r\nb\tc', '\x00\xff']);
  });

  it('is null for anything that is not a command line', () => {
    expect(parseMonitorLine('+OK')).toBeNull();
    expect(parseMonitorLine('-ERR unknown command')).toBeNull();
  });
});
