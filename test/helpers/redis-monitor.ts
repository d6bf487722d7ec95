// MONITOR over a plain socket: every command Redis runs, as arguments, for tests that check which commands ran.
import { connect, type Socket } from 'node:net';

/**
 * ioredis's own monitor() reads the monitor stream through its command queue, and under load on a shared Redis it
 * failed with "Command queue state error" (a monitor line taken for the reply to its connect-time commands). This
 * client sends nothing but AUTH and MONITOR.
 */
export interface Monitor {
  close(): void;
}

/** One monitor line's command: its arguments and where it came from (`lua` for a script's calls, else the client's address). */
export type MonitorListener = (args: string[], source: string) => void;

const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b', '"': '"', '\\': '\\' };

/** The arguments of a line `+1700000000.123456 [0 127.0.0.1:5000] "set" "k" "v"` (Redis quotes and escapes each one). */
export function parseMonitorLine(line: string): { args: string[]; source: string } | null {
  const m = /^\+\d+\.\d+ \[\d+ ([^\]]+)\] (.*)$/.exec(line);
  if (!m) return null;
  const source = m[1]!;
  const rest = m[2]!;
  const args: string[] = [];
  let i = 0;
  while (i < rest.length) {
    if (rest[i] !== '"') {
      i++;
      continue;
    }
    let arg = '';
    i++;
    while (i < rest.length && rest[i] !== '"') {
      if (rest[i] === '\\') {
        const next = rest[i + 1]!;
        if (next === 'x') {
          arg += String.fromCharCode(parseInt(rest.slice(i + 2, i + 4), 16));
          i += 4;
        } else {
          arg += ESCAPES[next] ?? next;
          i += 2;
        }
      } else {
        arg += rest[i];
        i++;
      }
    }
    i++;
    args.push(arg);
  }
  return { args, source };
}

/** Starts monitoring the Redis at `url`; resolves once Redis has answered MONITOR (commands after that are seen). */
export function startMonitor(url: string, listener: MonitorListener): Promise<Monitor> {
  const parsed = new URL(url);
  const socket: Socket = connect({ host: parsed.hostname || '127.0.0.1', port: Number(parsed.port || 6379) });
  const password = decodeURIComponent(parsed.password);
  const user = decodeURIComponent(parsed.username);
  return new Promise((resolve, reject) => {
    let buffered = '';
    let started = false;
    // AUTH answers +OK first when there is a password; MONITOR's +OK is the last one before the stream.
    let oksBeforeStream = password ? 2 : 1;
    socket.setEncoding('utf8');
    socket.on('error', (err) => (started ? undefined : reject(err)));
    socket.on('connect', () => {
      if (password) socket.write(user ? `AUTH ${user} ${password}\r\n` : `AUTH ${password}\r\n`);
      socket.write('MONITOR\r\n');
    });
    socket.on('data', (text: string) => {
      buffered += text;
      for (let end = buffered.indexOf('\r\n'); end !== -1; end = buffered.indexOf('\r\n')) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        if (line.startsWith('-')) {
          if (!started) reject(new Error(`MONITOR refused: ${line.slice(1)}`));
          continue;
        }
        if (line === '+OK' && !started) {
          oksBeforeStream--;
          if (oksBeforeStream === 0) {
            started = true;
            resolve({ close: () => socket.destroy() });
          }
          continue;
        }
        const parsedLine = parseMonitorLine(line);
        if (parsedLine) listener(parsedLine.args, parsedLine.source);
      }
    });
  });
}
