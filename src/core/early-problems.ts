// Configuration problems found before the configuration is loaded (OTEL_* values, a worker's V8 flags): reported with all the others.

const found: string[] = [];

/** Keeps a problem for the start-up's one list (app/server.ts) instead of exiting on it alone. */
export function noteEarlyConfigProblem(problem: string): void {
  found.push(problem);
}

export function earlyConfigProblems(): readonly string[] {
  return found;
}
