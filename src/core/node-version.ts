// The Node.js version check every entry point runs first: on an older Node the service would fail later with a stack trace.
export const REQUIRED_NODE_MAJOR = 24;

/** null when this Node is new enough, else the one-line explanation of what to run instead. */
export function nodeVersionProblem(version = process.versions.node, how = 'npm run <role>'): string | null {
  const major = Number(version.split('.')[0]);
  if (Number.isFinite(major) && major >= REQUIRED_NODE_MAJOR) return null;
  return (
    `nemo-relay needs Node.js ${REQUIRED_NODE_MAJOR} or newer, but this is Node.js ${version}. ` +
    `Run it through npm (${how}: the project pins Node ${REQUIRED_NODE_MAJOR} as a dependency), or install Node ${REQUIRED_NODE_MAJOR} LTS.`
  );
}

/** Prints the problem on one line and exits 1; call before importing anything else. */
export function exitUnlessNodeIsRecent(how?: string): void {
  const problem = nodeVersionProblem(process.versions.node, how);
  if (problem === null) return;
  process.stderr.write(`${problem}\n`);
  process.exit(1);
}
