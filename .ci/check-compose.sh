#!/usr/bin/env bash
# CI without a Docker engine: docker-compose.yml parses (docker compose v2 or Debian's docker-compose 1.29) and has the
# intended shape; .env.example documents every variable src/app/config.ts reads. Run from a clean checkout after `npm ci`.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

fail() { echo "check-compose: $*" >&2; exit 1; }

# 1. .env.example lists every configuration variable (as VAR= or, for ones best left unset, as "# VAR=").
schema_vars=$(sed -n '/^export const envSchema = z.object({/,/^});/p' src/app/config.ts | grep -oE '^  [A-Z][A-Z0-9_]+:' | tr -d ' :' | sort -u)
[ -n "$schema_vars" ] || fail "could not read the variable names of envSchema in src/app/config.ts"
documented=$(grep -oE '^(# )?[A-Z][A-Z0-9_]+=' .env.example | sed -E 's/^# //; s/=$//' | sort -u)
missing=$(comm -23 <(echo "$schema_vars") <(echo "$documented"))
[ -z "$missing" ] || fail ".env.example does not document: $(echo $missing)"
echo "check-compose: .env.example documents all $(echo "$schema_vars" | wc -l) variables of src/app/config.ts"

# 2. Resolve the compose file in a scratch copy with .env made from .env.example (compose reads .env from the project dir).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp docker-compose.yml "$work/"
cp .env.example "$work/.env"

compose=""
if docker compose version >/dev/null 2>&1; then
  compose="docker compose"
elif command -v docker-compose >/dev/null 2>&1; then
  compose="docker-compose"
elif command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "check-compose: installing Debian's docker-compose (config needs no engine)"
  (apt-get update -qq && apt-get install -y -qq docker-compose >/dev/null) || true
  command -v docker-compose >/dev/null 2>&1 && compose="docker-compose"
fi

if [ -n "$compose" ]; then
  echo "check-compose: validating with $($compose version 2>/dev/null | head -1)"
  (cd "$work" && $compose -f docker-compose.yml config >default.yml) || fail "'$compose config' rejected docker-compose.yml"
  (cd "$work" && $compose -f docker-compose.yml --profile sim config >sim.yml) || fail "'$compose --profile sim config' rejected docker-compose.yml"
  (cd "$work" && $compose -f docker-compose.yml --profile tracing config >tracing.yml) || fail "'$compose --profile tracing config' rejected docker-compose.yml"
  (cd "$work" && $compose -f docker-compose.yml --profile sentinel config >sentinel.yml) || fail "'$compose --profile sentinel config' rejected docker-compose.yml"
  # The .env lines docker-compose.yml documents for the sentinel profile: the app containers must follow the sentinels.
  mkdir "$work/sentinel-env"
  cp docker-compose.yml "$work/sentinel-env/"
  { cat .env.example; printf '%s\n' 'RELAY_REDIS_URL=' 'REDIS_SENTINELS=sentinel-1:26379,sentinel-2:26379,sentinel-3:26379' 'REDIS_SENTINEL_NAME=nemo-relay'; } >"$work/sentinel-env/.env"
  (cd "$work/sentinel-env" && $compose -f docker-compose.yml --profile sentinel config >../sentinel-env.yml) || fail "'$compose --profile sentinel config' rejected the sentinel .env lines"
  mode=resolved
else
  # No compose tool at all: parse the YAML ourselves (anchors and merge keys included) and check the same structure.
  echo "check-compose: NOTE no docker compose / docker-compose available; falling back to a YAML + structure check"
  cp "$work/docker-compose.yml" "$work/default.yml"
  cp "$work/docker-compose.yml" "$work/sim.yml"
  cp "$work/docker-compose.yml" "$work/tracing.yml"
  cp "$work/docker-compose.yml" "$work/sentinel.yml"
  cp "$work/docker-compose.yml" "$work/sentinel-env.yml"
  mode=raw
fi

# 3. The structure the operating notes promise, checked on the resolved (or raw) configuration.
node --input-type=module - "$work" "$mode" "$repo" <<'EOF'
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
const [dir, mode, repo] = process.argv.slice(2);
const { parse } = createRequire(`${repo}/package.json`)('yaml');
const load = (name) => parse(readFileSync(`${dir}/${name}`, 'utf8'), { merge: true });
const problems = [];
const check = (ok, message) => ok || problems.push(message);
const env = (svc) => (Array.isArray(svc.environment) ? Object.fromEntries(svc.environment.map((e) => e.split(/=(.*)/s))) : svc.environment ?? {});
const profiles = (svc) => svc.profiles ?? [];

const plain = load('default.yml');
const withSim = load('sim.yml');
const withTracing = load('tracing.yml');
const withSentinel = load('sentinel.yml');
const sentinelEnv = load('sentinel-env.yml');
// v2 drops services of inactive profiles from `config`; v1 keeps them with their `profiles` key: filter in both cases.
const active = (cfg) => Object.keys(cfg.services).filter((n) => profiles(cfg.services[n]).length === 0);
for (const name of ['redis', 'api', 'worker']) check(active(plain).includes(name), `service ${name} missing`);
check(!active(plain).includes('sim'), 'sim must only run with --profile sim');
check(Object.keys(withSim.services).includes('sim') && profiles(withSim.services.sim).includes('sim'), 'sim service under profile "sim" missing');
// The simulator takes no env_file: each setting .env.example documents for it must be passed on by name.
for (const name of ['SIM_TIME_SCALE', 'SIM_PUBLIC_URL', 'SIM_SCENARIO']) check(name in env(withSim.services.sim ?? {}), `sim: ${name} from .env is not passed on`);
check(!active(plain).includes('jaeger'), 'jaeger must only run with --profile tracing');
const jaeger = withTracing.services.jaeger;
check(Boolean(jaeger) && profiles(jaeger).includes('tracing'), 'jaeger service under profile "tracing" missing');
const published = (svc) => (svc?.ports ?? []).map((p) => String(typeof p === 'string' ? p : p.target)).join(' ');
for (const port of ['16686', '4318']) check(published(jaeger).includes(port), `jaeger: port ${port} (UI / OTLP HTTP) not published`);
// --profile sentinel: a replica of redis and three sentinels watching it, none of them started without the profile.
const sentinelServices = ['redis-replica', 'sentinel-1', 'sentinel-2', 'sentinel-3'];
for (const name of sentinelServices) {
  check(!active(plain).includes(name), `${name} must only run with --profile sentinel`);
  const svc = withSentinel.services[name];
  check(Boolean(svc) && profiles(svc).includes('sentinel'), `${name} service under profile "sentinel" missing`);
}
const replicaCmd = [].concat(withSentinel.services['redis-replica']?.command ?? []).join(' ');
check(/--replicaof redis 6379/.test(replicaCmd), 'redis-replica: must replicate the redis service (--replicaof redis 6379)');
check(/--maxmemory-policy noeviction/.test(replicaCmd), 'redis-replica: --maxmemory-policy noeviction missing (it becomes the master on failover)');
for (const name of sentinelServices.slice(1)) {
  const cmd = [].concat(withSentinel.services[name]?.command ?? []).join(' ');
  check(/sentinel monitor nemo-relay redis 6379 2/.test(cmd), `${name}: must monitor the redis service as nemo-relay with quorum 2`);
}
if (mode === 'resolved') {
  // With the documented .env lines, REDIS_URL is gone (it may not be set next to REDIS_SENTINELS) and the sentinels named.
  for (const name of ['api', 'worker']) {
    const e = env(sentinelEnv.services[name]);
    check(!e.REDIS_URL, `${name}: with RELAY_REDIS_URL= in .env the sentinel profile must leave REDIS_URL empty, got ${e.REDIS_URL}`);
    if ('REDIS_SENTINELS' in e) check(e.REDIS_SENTINELS === 'sentinel-1:26379,sentinel-2:26379,sentinel-3:26379', `${name}: REDIS_SENTINELS not passed from .env`);
  }
}

const s = plain.services;
const redisCmd = [].concat(s.redis.command ?? []).join(' ');
check(/--appendonly yes/.test(redisCmd), 'redis: AOF (--appendonly yes) not on');
check(/--maxmemory-policy noeviction/.test(redisCmd), 'redis: --maxmemory-policy noeviction missing');
check((s.redis.volumes ?? []).some((v) => String(typeof v === 'string' ? v : v.target).includes('/data')), 'redis: no volume on /data');
check(Boolean(s.redis.healthcheck?.test), 'redis: no healthcheck');
for (const name of ['api', 'worker']) {
  const svc = s[name];
  check(Boolean(svc.build), `${name}: not built from this repository`);
  check(svc.image === s.api.image, `${name}: not the one shared image`);
  check(JSON.stringify([].concat(svc.command)) === JSON.stringify([name]), `${name}: command must pick the role ${name}`);
  check(svc.depends_on && 'redis' in svc.depends_on, `${name}: must depend on redis`);
  check(env(svc).REDIS_URL === 'redis://redis:6379', `${name}: REDIS_URL must point at the redis service`);
  if (mode === 'resolved') check(env(svc).NEMO_BASE_URL === 'http://sim:4010', `${name}: with NEMO_BASE_URL unset, the simulator must be the upstream`);
  // Tracing: the endpoint is passed through from .env / the shell, and empty (off) when unset there.
  if (mode === 'raw') check('OTEL_EXPORTER_OTLP_ENDPOINT' in env(svc), `${name}: OTEL_EXPORTER_OTLP_ENDPOINT must be passed through (tracing)`);
  else check(!env(svc).OTEL_EXPORTER_OTLP_ENDPOINT, `${name}: tracing must be off with OTEL_EXPORTER_OTLP_ENDPOINT unset`);
}
check(!s.worker.ports && !s.worker.container_name, 'worker: no ports or container_name, so --scale worker=N works');
check((s.api.ports ?? []).length > 0, 'api: port not published');
check(JSON.stringify([].concat(withSim.services.sim.command)) === '["sim"]', 'sim: command must be sim');
check(withSim.services.sim.image === s.api.image, 'sim: not the one shared image');
// README: after `cp .env.example .env` the compose simulator runs at 0.1; a SIM_TIME_SCALE line set there overrides it.
const simScale =
  mode === 'resolved'
    ? String(env(withSim.services.sim).SIM_TIME_SCALE)
    : (/^SIM_TIME_SCALE=(.*)$/m.exec(readFileSync(`${repo}/.env.example`, 'utf8'))?.[1] ?? '0.1');
check(simScale === '0.1', `sim: with .env made from .env.example SIM_TIME_SCALE must stay compose's 0.1 (README), got ${simScale}`);
if (problems.length > 0) {
  console.error(`check-compose: ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`check-compose: structure ok (${mode} configuration; services: ${[...new Set([...Object.keys(withSim.services), ...Object.keys(withTracing.services), ...Object.keys(withSentinel.services)])].join(', ')})`);
EOF
echo "check-compose: ok"
