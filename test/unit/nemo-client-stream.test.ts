// NemoClient.runAgent against a real local server: request shape, deadlines, drops mid-stream, refusals before the stream (§2.7, §3).
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import type { ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NemoError } from '../../src/nemo/errors.js';
import type { AgentEvent } from '../../src/nemo/sse.js';
import { caught, json, makeClient, SKILL, startServer, TOKEN, type TestServer } from './nemo-test-server.js';

const camel = readFileSync(fileURLToPath(new URL('../fixtures/streams/adk-camel.sse', import.meta.url)));

let srv: TestServer;
const timers: NodeJS.Timeout[] = [];
beforeAll(async () => {
  srv = await startServer();
});
afterEach(() => {
  for (const t of timers.splice(0)) clearInterval(t);
});
afterAll(async () => {
  await srv.close();
});

function sseHead(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.flushHeaders();
}

/** Writes `chunk` every `ms` until the client goes away. */
function every(res: ServerResponse, ms: number, chunk: string): void {
  const t = setInterval(() => {
    if (!res.destroyed) res.write(chunk);
  }, ms);
  timers.push(t);
  res.on('close', () => clearInterval(t));
}

const opts = { idleMs: 5_000, maxMs: 10_000 };

describe('runAgent', () => {
  it('posts the ADK request and summarises the stream read in small pieces until the socket closes', async () => {
    srv.handle(async (_q, res) => {
      sseHead(res);
      for (let i = 0; i < camel.length; i += 97) {
        res.write(camel.subarray(i, i + 97));
        await new Promise((r) => setImmediate(r));
      }
      res.end();
    });
    const seen: AgentEvent[] = [];
    const result = await makeClient(srv.url).runAgent(TOKEN, '5529798706024415232', 'make a timelapse', {
      ...opts,
      onEvent: (e) => seen.push(e),
    });
    expect(result).toMatchObject({
      toolCalls: ['generate_video_with_seedance', 'edit_multitrack'],
      toolResults: ['generate_video_with_seedance', 'edit_multitrack'],
      error: null,
      heartbeats: 1,
      events: 9,
      silent: false,
    });
    expect(result.texts).toHaveLength(2);
    expect(seen).toHaveLength(9);
    const req = srv.requests.at(-1)!;
    expect(req.url).toBe('/run_sse');
    expect(JSON.parse(req.body.toString())).toEqual({
      app_name: 'nemo_agent',
      user_id: 'me',
      session_id: '5529798706024415232',
      new_message: { parts: [{ text: 'make a timelapse' }] },
    });
    expect(req.headers).toMatchObject({
      accept: 'text/event-stream',
      'content-type': 'application/json',
      authorization: `Bearer ${TOKEN}`,
      'x-skill-source': SKILL.source,
      'x-skill-version': SKILL.version,
      'x-skill-platform': SKILL.platform,
    });
  });

  it('reports an error event in the result instead of throwing', async () => {
    srv.handle((_q, res) => {
      sseHead(res);
      res.end('data: {"error": "Tool "edit_multitrack" failed: boom"}\n\n');
    });
    const result = await makeClient(srv.url).runAgent(TOKEN, 's', 'x', opts);
    expect(result.error).toEqual({ message: 'Tool "edit_multitrack" failed: boom' });
    expect(result.silent).toBe(true);
  });

  it('times out when only heartbeats arrive for idleMs', async () => {
    srv.handle((_q, res) => {
      sseHead(res);
      res.write('data: {"type":"text","content":"working"}\n\n');
      every(res, 20, 'data: {"type":"heartbeat"}\n\n: ping\n\n');
    });
    const started = Date.now();
    const err = await caught(() => makeClient(srv.url).runAgent(TOKEN, 's', 'x', { idleMs: 300, maxMs: 10_000 }));
    expect(err).toBeInstanceOf(NemoError);
    expect(err).toMatchObject({ kind: 'timeout', phase: 'in_stream', endpoint: 'run_sse', agentTexts: ['working'] });
    expect(err.message).toMatch(/keep-alives/);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('times out when no byte arrives for idleMs', async () => {
    srv.handle((_q, res) => sseHead(res));
    const err = await caught(() => makeClient(srv.url).runAgent(TOKEN, 's', 'x', { idleMs: 300, maxMs: 10_000 }));
    expect(err).toMatchObject({ kind: 'timeout', phase: 'in_stream' });
    expect(err.message).toMatch(/no bytes/);
  });

  it('times out after maxMs even while real events keep coming', async () => {
    srv.handle((_q, res) => {
      sseHead(res);
      every(res, 30, 'data: {"type":"text","content":"tick"}\n\n');
    });
    const started = Date.now();
    const err = await caught(() => makeClient(srv.url).runAgent(TOKEN, 's', 'x', { idleMs: 2_000, maxMs: 400 }));
    expect(err).toMatchObject({ kind: 'timeout', phase: 'in_stream' });
    expect(err.message).toMatch(/exceeded 400 ms/);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('throws transient in_stream when the socket drops mid-stream', async () => {
    srv.handle((req, res) => {
      sseHead(res);
      res.write('data: {"type":"tool_call","name":"generate_video_with_seedance"}\n\n');
      setTimeout(() => req.socket.destroy(), 50);
    });
    const err = await caught(() => makeClient(srv.url).runAgent(TOKEN, 's', 'x', opts));
    expect(err).toMatchObject({ kind: 'transient', phase: 'in_stream', endpoint: 'run_sse', agentTexts: [] });
  });

  it('keeps the texts that arrived whole before the socket dropped (not the one cut in half)', async () => {
    srv.handle((req, res) => {
      sseHead(res);
      res.write('data: {"content":{"parts":[{"text":"Got it, generating a 10s video."}],"role":"model"},"author":"nemo_agent"}\n\n');
      res.write('data: {"type":"heartbeat"}\n\n');
      res.write('data: {"content":{"parts":[{"text":"Half of an'); // never finished
      setTimeout(() => req.socket.destroy(), 50);
    });
    const err = await caught(() => makeClient(srv.url).runAgent(TOKEN, 's', 'x', opts));
    expect(err).toMatchObject({ kind: 'transient', phase: 'in_stream', agentTexts: ['Got it, generating a 10s video.'] });
  });

  it.each([
    ['404 Session not found', 404, { detail: 'Session not found' }, 'session_missing'],
    ['HTTP 200 envelope with code 1002', 200, { code: 1002, message: 'session not found' }, 'session_missing'],
    ['422 validation', 422, { detail: [{ loc: ['body', 'session_id'], msg: 'field required', type: 'missing' }] }, 'rejected'],
    ['401', 401, { detail: 'bad token' }, 'auth'],
    ['429', 429, { message: 'slow down' }, 'rate_limited'],
    ['502 HTML', 502, '<html>bad gateway</html>', 'transient'],
  ] as const)('refusal before the stream: %s → %s', async (_label, status, body, kind) => {
    srv.handle((_q, res) => json(res, status, body));
    const err = await caught(() => makeClient(srv.url).runAgent(TOKEN, 's', 'x', opts));
    expect(err).toMatchObject({ kind, phase: 'before_stream', httpStatus: status });
    expect(err.message).not.toContain('TESTSECRET');
  });

  it('an HTML page with HTTP 200 is transient before_stream, not a silent run', async () => {
    srv.handle((_q, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>maintenance</html>');
    });
    const err = await caught(() => makeClient(srv.url).runAgent(TOKEN, 's', 'x', opts));
    expect(err).toMatchObject({ kind: 'transient', phase: 'before_stream', httpStatus: 200 });
  });

  it('a refused connection is transient before_stream (nothing was sent)', async () => {
    const err = await caught(() => makeClient('http://127.0.0.1:1').runAgent(TOKEN, 's', 'x', opts));
    expect(err).toMatchObject({ kind: 'transient', phase: 'before_stream' });
  });

  it('rejects with the caller’s abort reason', async () => {
    srv.handle((_q, res) => {
      sseHead(res);
      every(res, 20, 'data: {"type":"heartbeat"}\n\n');
    });
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('job canceled')), 100);
    const outcomes: string[] = [];
    const client = makeClient(srv.url, { onCall: (endpoint, outcome) => void outcomes.push(`${endpoint}:${outcome}`) });
    const err = await caught(() => client.runAgent(TOKEN, 's', 'x', { ...opts, signal: ac.signal }));
    expect(err.message).toBe('job canceled');
    // Counted as given up by the caller, not as an upstream failure (nemo_relay_upstream_requests_total).
    expect(outcomes).toEqual(['run_sse:aborted']);
  });

  it('logs its calls through the logger given by withLogger (a job’s, with its jobId)', async () => {
    srv.handle((_q, res) => {
      sseHead(res);
      res.end(camel);
    });
    const lines: Record<string, unknown>[] = [];
    const sink = { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) };
    const jobLog = pino({ level: 'debug' }, sink).child({ jobId: 'job_1' });
    await makeClient(srv.url).withLogger(jobLog).runAgent(TOKEN, 's', 'x', opts);
    const upstream = lines.filter((l) => l.endpoint === 'run_sse');
    expect(upstream.map((l) => l.msg)).toContain('nemo call');
    expect(upstream.map((l) => l.msg)).toContain('agent run ended');
    expect(upstream.filter((l) => l.jobId !== 'job_1')).toEqual([]);
  });
});
