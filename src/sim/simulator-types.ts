// The Simulator handle's public type (kept apart from its construction to keep files small).
import type { FastifyInstance } from 'fastify';
import type { RunRec, SessionState, UploadRec } from './model.js';
import type { LogFilter } from './request-log.js';
import type { SimScenario } from './scenario.js';
import type { FaultSpec, SimEndpoint, SimLogEntry } from './types.js';
import type { Logger } from '../observability/logger.js';

export interface SimSessionView {
  sessionId: string;
  taskId: string;
  taskName: string;
  userId: string;
  language?: string;
  /** run_sse texts in arrival order. */
  messages: string[];
  /** The agent's text replies (final texts), in order. */
  replies: string[];
  /** Agent work accepted for this session and not finished yet. */
  busy: boolean;
  state: SessionState;
  /** The owning user's balance. */
  credits: { available: number; frozen: number; total: number };
  /** Every file the upstream received for this session, refused ones included, in arrival order. */
  uploads: UploadRec[];
  /** Accepted /run_sse streams in arrival order, with when each was open. */
  runs: RunRec[];
  /** The most /run_sse responses ever open at the same time on this session (a careful client keeps it at 1). */
  maxConcurrentRuns: number;
  /** The claim token handed out for this session (POST /api/auth/claim-token), if any. */
  claimToken?: string;
}

export interface SimulatorOptions {
  /** Multiplies every upstream duration (0 = instant but still asynchronous). Default 1. */
  timeScale?: number;
  scenario?: Partial<SimScenario>;
  logger?: Logger;
  /** Base URL used in cdn_url / outputUrl links (default: the listen URL). */
  publicUrl?: string;
}

export interface Simulator {
  readonly app: FastifyInstance;
  /** Resolves to the base URL, e.g. http://127.0.0.1:43123; port 0 (default) picks a free port. */
  listen(port?: number, host?: string): Promise<string>;
  /** The base URL after listen(); throws before. */
  readonly url: string;
  readonly timeScale: number;
  close(): Promise<void>;
  scenario(): SimScenario;
  setScenario(patch: Partial<SimScenario>): void;
  injectFault(f: FaultSpec): void;
  clearFaults(): void;
  /** Pending faults, with the remaining `times` and `after`. */
  faults(): FaultSpec[];
  /** Forgets sessions, renders, tokens, credits, the log and faults; aborts running agent work; restores the initial scenario. */
  reset(): void;
  log: {
    entries(): SimLogEntry[];
    /** Calls logged so far, without copying the log. */
    size(): number;
    count(endpoint: SimEndpoint, filter?: LogFilter): number;
    clear(): void;
  };
  sessions(): SimSessionView[];
  session(sessionId: string): SimSessionView | undefined;
  /** Moves every render to its end state (completed, or failed when doomed) right away. */
  completeRendersNow(): void;
  /**
   * Sets a balance: the user behind `token` (anonymous or static; false when the token is unknown), or without a
   * token every known user, static tokens' users included (e.g. 0 to run out, then back up: credits "restored").
   */
  setCredits(available: number, token?: string): boolean;
  /** Resolves once no agent work is running (streams closed or not). */
  idle(): Promise<void>;
}
