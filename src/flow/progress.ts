// How far along a job is, as one number: fixed shares for the early stages, the agent messages, then the render.
export const PROGRESS = {
  generateStart: 10,
  generateEnd: 65,
  renderStart: 70,
  renderEnd: 99,
} as const;

export function messageProgress(index: number, total: number): number {
  const span = PROGRESS.generateEnd - PROGRESS.generateStart;
  return PROGRESS.generateStart + (span * index) / Math.max(1, total);
}

export function renderProgress(upstreamPercent: number): number {
  const span = PROGRESS.renderEnd - PROGRESS.renderStart;
  return PROGRESS.renderStart + (span * Math.min(100, Math.max(0, upstreamPercent))) / 100;
}
