// Entry used by the composition root for `node dist/main.js sim`: start a simulator from validated env values.
import type { Logger } from '../observability/logger.js';
import { parseScenarioJson } from './scenario.js';
import { createSimulator } from './simulator.js';
import type { Simulator } from './simulator-types.js';

export interface SimEnv {
  SIM_PORT: number;
  SIM_TIME_SCALE: number;
  HOST?: string;
  /** JSON of a partial SimScenario; invalid JSON or unknown keys stop the start with the zod message. */
  SIM_SCENARIO?: string;
  /** Base for cdn_url / outputUrl links when the simulator is reached through another name (e.g. in Docker). */
  SIM_PUBLIC_URL?: string;
}

export async function runSimulatorFromEnv(env: SimEnv, logger?: Logger): Promise<Simulator> {
  const sim = createSimulator({
    timeScale: env.SIM_TIME_SCALE,
    scenario: parseScenarioJson(env.SIM_SCENARIO),
    ...(logger ? { logger } : {}),
    ...(env.SIM_PUBLIC_URL ? { publicUrl: env.SIM_PUBLIC_URL } : {}),
  });
  await sim.listen(env.SIM_PORT, env.HOST ?? '0.0.0.0');
  return sim;
}
