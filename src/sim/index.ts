// Public surface of the NemoVideo simulator (a faithful, awkward stand-in for the upstream API).
export { createSimulator } from './simulator.js';
export { runSimulatorFromEnv, type SimEnv } from './run-from-env.js';
export { DEFAULT_SCENARIO, parseScenarioJson, scenarioPatchSchema, type EventStyle, type HeartbeatForm, type SimScenario } from './scenario.js';
export { faultSpecSchema } from './faults.js';
export { FAULT_KINDS, SIM_ENDPOINTS, type FaultKind, type FaultSpec, type SimEndpoint, type SimLogEntry } from './types.js';
export type { SimSessionView, Simulator, SimulatorOptions } from './simulator-types.js';
export type { Draft, RunRec, Segment, SessionState, Track, UploadRec, VideoInfo } from './model.js';
export { SNIFFED_KINDS, type SniffedKind } from './sniff.js';
export { SAMPLE_MP4_URL } from './media.js';
export {
  CORRECTIVE_HEADER,
  INITIAL_HEADER,
  REQUIREMENT_NAMES,
  readRequirements,
  type RequirementMessage,
  type RequirementName,
  type Requirements,
} from './requirements.js';
