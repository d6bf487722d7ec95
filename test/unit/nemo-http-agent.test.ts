// Upstream traffic goes through the project's own undici Agent, not undici's global slot that Node's bundled copy claims.
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { Agent, getGlobalDispatcher } from 'undici';
import { sharedAgent } from '../../src/core/http-agent.js';
import { OriginDispatcher } from '../../src/core/origin-dispatcher.js';
import { probeSize } from '../../src/flow/result-size.js';
import { json, makeClient, startServer, TOKEN, type TestServer } from './nemo-test-server.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer();
});
afterAll(async () => {
  vi.restoreAllMocks();
  await srv.close();
});

it('is an Agent of the undici this project depends on, one per process', () => {
  expect(sharedAgent()).toBeInstanceOf(Agent);
  expect(sharedAgent()).toBe(sharedAgent());
});

it('carries REST calls, the agent stream and the size probe even after fetch() was used', async () => {
  // fetch() (and loading node:http) is Node's bundled undici: undici's global dispatcher may well be that copy's Agent.
  srv.handle((_q, res) => json(res, 200, { code: 0, data: {} }));
  await (await fetch(`${srv.url}/warm-up`)).arrayBuffer();
  const dispatch = vi.spyOn(sharedAgent(), 'dispatch');
  const global = vi.spyOn(getGlobalDispatcher(), 'dispatch');
  const client = makeClient(srv.url);

  srv.handle((_q, res) => json(res, 200, { code: 0, data: { available: 10, frozen: 0, total: 10 } }));
  await client.getCredits(TOKEN);
  expect(dispatch).toHaveBeenCalledTimes(1);

  srv.handle((_q, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end('data: {"content":{"parts":[{"text":"done"}]}}\n\n');
  });
  await client.runAgent(TOKEN, 's1', 'make a video', { idleMs: 5_000, maxMs: 10_000 });
  expect(dispatch).toHaveBeenCalledTimes(2);

  srv.handle((_q, res) => {
    res.writeHead(200, { 'content-length': '1234' });
    res.end();
  });
  // The size probe of a result on the upstream's own origin: the trusted side of the output dispatcher.
  const refused = new Agent({ connect: (_opts, cb) => cb(new Error('guarded'), null) });
  expect(await probeSize(`${srv.url}/render-result/r.mp4`, new OriginDispatcher(new URL(srv.url).origin, sharedAgent(), refused))).toBe(1234);
  expect(dispatch).toHaveBeenCalledTimes(3);
  expect(global).not.toHaveBeenCalled();
});
