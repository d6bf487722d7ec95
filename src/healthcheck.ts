// Docker HEALTHCHECK: GET /healthz on the API port (or the simulator's control log for the sim role); exit 0 when it answers 200.
const port = process.env.HEALTHCHECK_PORT ?? process.env.PORT ?? '8080';
const path = process.env.HEALTHCHECK_PATH ?? '/healthz';

try {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2500) });
  process.exit(res.status === 200 ? 0 : 1);
} catch {
  process.exit(1);
}
