// Stops upstream work a job started, where the upstream allows it: only a running render can be canceled (protocol §2.8).
import type { Logger } from '../observability/logger.js';
import type { FlowDeps } from './context.js';
import type { FlowState } from './state.js';

export async function cancelUpstreamWork(deps: FlowDeps, flow: FlowState, log: Logger): Promise<void> {
  const render = flow.render;
  if (!render?.attempted || flow.result) return;
  try {
    await deps.nemo.cancelRender(await deps.tokens.get(), render.id);
    log.info({ renderId: render.id }, 'upstream render canceled');
  } catch (err) {
    log.warn({ renderId: render.id, err: String(err) }, 'could not cancel the upstream render');
  }
}
