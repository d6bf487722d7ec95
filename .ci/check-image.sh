#!/usr/bin/env bash
# CI without a Docker engine: replay the Dockerfile's install and build steps in a clean copy of the repository, then run
# every role (api, worker, all, sim) from the production-only tree on Node 24: probes, the HEALTHCHECK script, the CLI
# through its shebang, one real job end to end against the simulator, and exit 0 on SIGTERM. Needs Redis on REDIS_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}

say() { echo "check-image: $*"; }
fail() { echo "check-image: FAILED: $*" >&2; exit 1; }

# Node 24, as in the image: the project's own binary (devDependency `node`), else a system node >= 24.
node24=""
for candidate in "$repo/node_modules/.bin/node" "$(command -v node || true)"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 24 ? 0 : 1)' 2>/dev/null; then
    node24=$(readlink -f "$candidate")
    break
  fi
done
[ -n "$node24" ] || fail "no Node 24 (run npm ci in the repository first: the devDependency 'node' provides it)"
say "using Node $("$node24" --version) at $node24"

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
# Every node (npm's and the shebangs') is Node 24 from here on.
mkdir -p "$work/bin"
ln -s "$node24" "$work/bin/node"
export PATH="$work/bin:$PATH"

# The clean copy: what a fresh checkout holds (tracked and new files, never ignored ones such as node_modules or .env).
mkdir -p "$work/context"
git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
  tar --null -T - -cf - | tar -xf - -C "$work/context"

# The Dockerfile's own RUN lines, executed verbatim, so this check cannot drift from the image.
dockerfile_run() { grep -E "^RUN $1" "$repo/Dockerfile" | head -1 | sed 's/^RUN //'; }
build_install=$(dockerfile_run 'npm ci --ignore-scripts')
build_compile=$(dockerfile_run 'node node_modules/typescript')
deps_install=$(dockerfile_run 'npm ci --omit=dev')
# The image empties its npm cache; here that cache is the machine's, so leave it alone.
deps_install=${deps_install%% && npm cache clean*}
[ -n "$build_install" ] && [ -n "$build_compile" ] && [ -n "$deps_install" ] || fail "Dockerfile RUN steps not found"
grep -qE '^ARG NODE_IMAGE=node:24' Dockerfile || fail "the image must be based on node:24"
grep -qE '^USER node$' Dockerfile || fail "the image must run as the non-root user node"
grep -qE '^HEALTHCHECK .*dist/healthcheck.js' Dockerfile || fail "the image needs its HEALTHCHECK"
grep -qE '^ENTRYPOINT \["node", "dist/main.js"\]' Dockerfile || fail "the command must pick the role"

say "stage build: $build_install && $build_compile"
mkdir -p "$work/build" && cd "$work/context"
cp -r package.json package-lock.json tsconfig.json tsconfig.build.json src console "$work/build/"
(cd "$work/build" && eval "$build_install" >/dev/null && eval "$build_compile") || fail "build stage"

say "stage deps: $deps_install"
mkdir -p "$work/deps" && cp package.json package-lock.json "$work/deps/"
(cd "$work/deps" && eval "$deps_install" >/dev/null) || fail "deps stage"

say "final stage: production node_modules + dist + assets"
app="$work/app"
mkdir -p "$app/data/uploads"
mv "$work/deps/node_modules" "$app/node_modules"
mv "$work/build/dist" "$app/dist"
cp package.json "$app/" && cp -r assets "$app/"
chmod +x "$app/dist/cli/main.js"
[ -f "$app/dist/console/index.html" ] || fail "the image lacks the built web console (dist/console)"
for dev in typescript vitest tsx eslint node; do
  [ ! -e "$app/node_modules/$dev" ] || fail "devDependency $dev is in the production tree"
done
say "production tree: $(du -sh "$app/node_modules" | cut -f1) of node_modules, no devDependencies"

cd "$app"
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
wait_http() { # url [status [bearer]]
  for _ in $(seq 1 150); do
    code=$(node -e 'fetch(process.argv[1],{headers:process.argv[2]?{authorization:"Bearer "+process.argv[2]}:{}}).then(r=>{console.log(r.status)},()=>console.log(0))' "$1" "${3:-}")
    [ "$code" = "${2:-200}" ] && return 0
    sleep 0.2
  done
  fail "$1 did not answer ${2:-200} (last: $code)"
}
prefix="nrimage-$(date +%s)-$$"
key="acme-key-0123456789abcdef"
common=(NODE_ENV=production REDIS_URL="$REDIS_URL" QUEUE_PREFIX="$prefix" HOST=127.0.0.1 LOG_LEVEL=warn
  API_KEYS="acme:$key" ADMIN_API_KEY="admin-key-0123456789abcdef" WEBHOOK_ALLOW_PRIVATE=true RECONCILE_INTERVAL_MS=200)
start_role() { # role port-vars...
  local role=$1; shift
  env -i PATH="$PATH" HOME="$work" "${common[@]}" "$@" node dist/main.js "$role" >"$work/$role.log" 2>&1 &
  pids+=("$!")
}
healthcheck() { # role env...
  local role=$1; shift
  env -i PATH="$PATH" HEALTHCHECK_ROLE="$role" "$@" node dist/healthcheck.js || fail "HEALTHCHECK failed for $role"
}

sim_port=$(free_port); api_port=$(free_port); worker_port=$(free_port); all_port=$(free_port); all_metrics=$(free_port)
# One deployment, one public address for the links every process mints (README: set it in production).
common+=(PUBLIC_BASE_URL="http://127.0.0.1:$all_port")
start_role sim SIM_PORT="$sim_port" SIM_TIME_SCALE=0.01
wait_http "http://127.0.0.1:$sim_port/_sim/scenario"
healthcheck sim SIM_PORT="$sim_port"
sim="http://127.0.0.1:$sim_port"
start_role api PORT="$api_port" NEMO_BASE_URL="$sim"
start_role worker METRICS_PORT="$worker_port" NEMO_BASE_URL="$sim"
start_role all PORT="$all_port" METRICS_PORT="$all_metrics" NEMO_BASE_URL="$sim"
for port in "$api_port" "$worker_port" "$all_port"; do
  wait_http "http://127.0.0.1:$port/healthz"
  wait_http "http://127.0.0.1:$port/readyz"
done
# Metrics are the operator's: a worker's ops port answers anyone who reaches it, the API port (api and all) only the admin key.
wait_http "http://127.0.0.1:$worker_port/metrics"
for port in "$api_port" "$all_port"; do
  wait_http "http://127.0.0.1:$port/metrics" 401
  wait_http "http://127.0.0.1:$port/metrics" 403 "$key"
  wait_http "http://127.0.0.1:$port/metrics" 200 "admin-key-0123456789abcdef"
done
wait_http "http://127.0.0.1:$api_port/admin/queues" 401
healthcheck api PORT="$api_port"
healthcheck worker METRICS_PORT="$worker_port"
healthcheck all PORT="$all_port"
if env -i PATH="$PATH" HEALTHCHECK_ROLE=api PORT="$(free_port)" node dist/healthcheck.js; then fail "HEALTHCHECK passed on a dead port"; fi
say "all four roles answer their probes; the HEALTHCHECK script passes for each"

# The CLI through its shebang and the package bin path, then a real job through the all-in-one role.
[ "$(head -1 dist/cli/main.js)" = '#!/usr/bin/env node' ] || fail "dist/cli/main.js lacks its shebang"
./dist/cli/main.js --version >/dev/null || fail "the CLI does not run through its shebang"
job_out=$(NEMO_RELAY_URL="http://127.0.0.1:$all_port" NEMO_RELAY_API_KEY="$key" ./dist/cli/main.js submit \
  assets/samples/sample-1-mug.jpg -m "make a 10-second promo video from this photo" --wait --out "$work/out.mp4" 2>"$work/cli.log") ||
  { cat "$work/cli.log" >&2; fail "a job through the production build did not succeed"; }
[ "$(head -c 8 "$work/out.mp4" | tail -c 4)" = "ftyp" ] || fail "the downloaded result is not an MP4"
say "a job ran end to end on the production build: $(echo "$job_out" | head -1), $(stat -c %s "$work/out.mp4") bytes of MP4"

# SIGTERM: every role exits 0.
for i in "${!pids[@]}"; do
  kill -TERM "${pids[$i]}"
  code=0
  wait "${pids[$i]}" || code=$?
  [ "$code" = 0 ] || { tail -20 "$work"/*.log >&2; fail "a role exited $code on SIGTERM"; }
done
pids=()
say "every role exited 0 on SIGTERM"

# Only this run's keys.
node --input-type=module -e '
  const { Redis } = await import(`${process.cwd()}/node_modules/ioredis/built/index.js`);
  const redis = new Redis(process.argv[1]);
  let cursor = "0";
  do { const [next, keys] = await redis.scan(cursor, "MATCH", `${process.argv[2]}*`, "COUNT", 500); cursor = next; if (keys.length) await redis.unlink(...keys); } while (cursor !== "0");
  redis.disconnect();' "$REDIS_URL" "$prefix"
say "ok"
