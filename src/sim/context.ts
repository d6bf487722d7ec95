// The simulator's shared parts handed to every route module, plus per-request bookkeeping.
import type { FastifyRequest } from 'fastify';
import type { AgentDeps } from './agent-runner.js';
import type { Clock } from './clock.js';
import type { FaultBook } from './faults.js';
import type { TokenRec, UserRec } from './model.js';
import type { RequestLog } from './request-log.js';
import type { SimScenario } from './scenario.js';
import type { SimStore } from './store.js';
import type { FaultSpec, SimEndpoint, SimLogEntry } from './types.js';
import type { Logger } from '../observability/logger.js';

export interface SimContext {
  store: SimStore;
  faults: FaultBook;
  log: RequestLog;
  clock: Clock;
  logger: Logger;
  agent: AgentDeps;
  scenario(): SimScenario;
  /** The base URL links are built on: publicUrl, else the listen URL, else the request's Host. */
  baseUrl(req: FastifyRequest): string;
  /** Aborted when the simulator resets or closes; background work watches it. */
  signal(): AbortSignal;
}

/** Route-level config: which upstream endpoint a route is (drives logging, faults and auth). */
export interface RouteTag {
  /** 'control' (/_sim/*) and 'cdn' (fake media host) are side routes: never logged, never faulted. */
  endpoint: SimEndpoint | 'control' | 'cdn';
}

export interface RequestInfo {
  endpoint: SimEndpoint | 'control' | 'unknown';
  entry?: SimLogEntry;
  token?: TokenRec;
  user?: UserRec;
  /** A fault the route handler itself must act out (stream_drop, render_failed, unsupported_file…). */
  fault?: FaultSpec;
}

const infos = new WeakMap<FastifyRequest, RequestInfo>();

export function requestInfo(req: FastifyRequest): RequestInfo {
  let info = infos.get(req);
  if (!info) {
    info = { endpoint: 'unknown' };
    infos.set(req, info);
  }
  return info;
}

/** The authenticated caller; routes behind the auth hook can rely on it. */
export function caller(req: FastifyRequest): { token: TokenRec; user: UserRec } {
  const info = requestInfo(req);
  if (!info.token || !info.user) throw new Error('sim: route used without authentication');
  return { token: info.token, user: info.user };
}

export const RENDER_FAMILY: ReadonlySet<string> = new Set(['render_submit', 'render_poll', 'render_cancel', 'render_download']);
export const UNAUTHENTICATED: ReadonlySet<string> = new Set(['anonymous_token', 'render_result', 'control', 'unknown']);

export const EXPORT_BLOCKED_MESSAGE =
  'free plan export blocked: anonymous users can only export from a supported client (X-Skill-* headers missing)';
