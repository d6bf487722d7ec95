// createSimulator: wires store, faults, log, hooks and routes into one Fastify app with a test-friendly handle.
import multipart from '@fastify/multipart';
import Fastify, { type FastifyError } from 'fastify';
import { pino } from 'pino';
import type { AgentDeps } from './agent-runner.js';
import { Clock } from './clock.js';
import { RENDER_FAMILY, requestInfo, type SimContext } from './context.js';
import { FaultBook } from './faults.js';
import { registerHooks } from './hooks.js';
import { sendEnvelopeError, sendRenderError, sendValidation422 } from './replies.js';
import { RequestLog } from './request-log.js';
import { registerAccountRoutes } from './routes-account.js';
import { registerControlRoutes } from './routes-control.js';
import { registerRenderRoutes } from './routes-render.js';
import { registerRunSseRoute } from './routes-run-sse.js';
import { registerUploadRoutes } from './routes-upload.js';
import { DEFAULT_SCENARIO, mergeScenario, type SimScenario } from './scenario.js';
import type { SimSessionView, Simulator, SimulatorOptions } from './simulator-types.js';
import { SimStore } from './store.js';
import type { SessionRec } from './model.js';

export function createSimulator(opts: SimulatorOptions = {}): Simulator {
  const logger = opts.logger ?? pino({ level: 'silent' });
  const clock = new Clock(opts.timeScale ?? 1);
  const initial = mergeScenario(DEFAULT_SCENARIO, opts.scenario ?? {});
  let scenario: SimScenario = initial;
  let epoch = new AbortController();
  let listenUrl: string | undefined;
  const running = new Set<Promise<void>>();
  const store = new SimStore();
  const faults = new FaultBook();
  const log = new RequestLog();
  const publicUrl = opts.publicUrl?.replace(/\/+$/, '');

  const agent: AgentDeps = {
    clock,
    logger,
    track(run) {
      running.add(run);
      void run.finally(() => running.delete(run));
    },
  };
  const ctx: SimContext = {
    store,
    faults,
    log,
    clock,
    logger,
    agent,
    scenario: () => scenario,
    baseUrl: (req) => publicUrl ?? listenUrl ?? `${req.protocol}://${req.headers.host ?? '127.0.0.1'}`,
    signal: () => epoch.signal,
  };

  // forceCloseConnections: close() must not wait for open SSE streams (heartbeats_only never ends by itself).
  const app = Fastify({ logger: false, trustProxy: true, forceCloseConnections: true, bodyLimit: 20 * 1024 * 1024 });
  // An empty JSON body is "no body" (curl-style POSTs with a content type but nothing in them).
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      (err as FastifyError).statusCode = 400;
      done(err as FastifyError, undefined);
    }
  });
  // The upload limit is enforced by our own byte count (scenario uploadMaxBytes), not by busboy.
  void app.register(multipart, { limits: { fileSize: Infinity, files: 1000, parts: 2000 } });
  registerHooks(app, ctx);
  registerAccountRoutes(app, ctx);
  registerUploadRoutes(app, ctx);
  registerRunSseRoute(app, ctx);
  registerRenderRoutes(app, ctx);

  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ detail: 'Not Found' }));
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const endpoint = requestInfo(req).endpoint;
    const client = (err.statusCode ?? 500) < 500;
    if (!client) logger.error({ err, endpoint }, 'sim route failed');
    if (endpoint === 'run_sse' && client) {
      return sendValidation422(reply, [{ type: 'json_invalid', loc: ['body', 0], msg: 'JSON decode error' }]);
    }
    if (RENDER_FAMILY.has(endpoint)) return sendRenderError(reply, scenario, client ? 400 : 500, client ? `invalid request: ${err.message}` : 'internal error');
    if (client) return sendEnvelopeError(reply, scenario, 400, `invalid request: ${err.message}`);
    return reply.code(500).send({ code: 500, [scenario.errorMessageKey]: 'internal server error', data: null });
  });

  const view = (s: SessionRec): SimSessionView => {
    const u = store.users.get(s.userId);
    const available = u?.available ?? 0;
    const frozen = u?.frozen ?? 0;
    return {
      sessionId: s.sessionId,
      taskId: s.taskId,
      taskName: s.taskName,
      userId: s.userId,
      ...(s.language !== undefined ? { language: s.language } : {}),
      messages: [...s.messages],
      replies: [...s.replies],
      busy: s.busy > 0,
      state: structuredClone(s.state),
      credits: { available, frozen, total: available + frozen },
      uploads: s.uploads.map((u) => ({ ...u })),
      runs: s.runs.map((r) => ({ ...r })),
      maxConcurrentRuns: s.maxConcurrentRuns,
      ...(s.claim ? { claimToken: s.claim.token } : {}),
    };
  };

  const sim: Simulator = {
    app,
    timeScale: clock.timeScale,
    get url(): string {
      if (!listenUrl) throw new Error('simulator is not listening yet');
      return listenUrl;
    },
    async listen(port = 0, host = '127.0.0.1') {
      await app.listen({ port, host });
      const addr = app.server.address();
      const actual = typeof addr === 'object' && addr ? addr.port : port;
      const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
      listenUrl = `http://${shown}:${actual}`;
      logger.info({ url: listenUrl, timeScale: clock.timeScale }, 'NemoVideo simulator listening');
      return listenUrl;
    },
    async close() {
      epoch.abort();
      await app.close();
      await Promise.allSettled([...running]);
    },
    scenario: () => ({ ...scenario, staticTokens: [...scenario.staticTokens], missRequirements: [...scenario.missRequirements] }),
    setScenario(patch) {
      scenario = mergeScenario(scenario, patch);
    },
    injectFault: (f) => faults.inject(f),
    clearFaults: () => faults.clear(),
    faults: () => faults.list(),
    reset() {
      epoch.abort();
      epoch = new AbortController();
      store.reset();
      log.clear();
      faults.clear();
      scenario = initial;
    },
    log: {
      entries: () => log.entries(),
      size: () => log.size,
      count: (endpoint, filter) => log.count(endpoint, filter),
      clear: () => log.clear(),
    },
    sessions: () => [...store.sessions.values()].map(view),
    session(sessionId) {
      const s = store.sessions.get(sessionId);
      return s ? view(s) : undefined;
    },
    completeRendersNow() {
      const now = Date.now();
      for (const r of store.renders.values()) if (r.canceledAt === undefined) r.createdAt = Math.min(r.createdAt, now - r.totalMs);
    },
    setCredits(available, token) {
      if (token !== undefined) {
        const user = store.userOfToken(token, scenario);
        if (user) user.available = available;
        return user !== undefined;
      }
      store.materializeStaticUsers(scenario);
      for (const u of store.users.values()) u.available = available;
      return true;
    },
    async idle() {
      while (running.size > 0) await Promise.allSettled([...running]);
    },
  };
  registerControlRoutes(app, () => sim);
  return sim;
}
