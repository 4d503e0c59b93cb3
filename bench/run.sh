#!/usr/bin/env bash
# Loads a release build of Latchkey over loopback with wrk and prints one
# table: requests/s, p50, p99, errors and server RSS per endpoint, on SQLite +
# in-process state and on PostgreSQL + Redis, next to node-oidc-provider doing
# the same client_credentials work, and the raw RS256 signing rate of our
# signing code measured in the same run.
#
# Usage: bench/run.sh            (DURATION=10 seconds per load by default)
# Needs: cargo, wrk (installed with apt-get when missing), node + npm for the
# node-oidc-provider column, PostgreSQL on 127.0.0.1:5432 and Redis on
# 127.0.0.1:6379 for the shared-backend column (skipped when absent).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
DURATION=${DURATION:-10}
PG_URL=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/latchkey_bench}
REDIS=${BENCH_REDIS_URL:-redis://127.0.0.1:6379/}

if ! command -v wrk >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
echo "building release binaries..." >&2
cargo build --release --quiet --bin latchkey --example bench
bin=$root/target/release/latchkey
driver=$root/target/release/examples/bench

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 200); do curl -fs -o /dev/null "$1" && return 0; sleep 0.05; done; echo "no answer from $1" >&2; return 1; }
rss_mb() { awk '/VmRSS/{printf "%.1f", $2/1024}' "/proc/$1/status"; }
hwm_mb() { awk '/VmHWM/{printf "%.1f", $2/1024}' "/proc/$1/status"; }

# wrk_row LABEL PID CONNECTIONS URL LUA [BODY] [AUTH]: one table row.
wrk_row() {
  local label=$1 pid=$2 conns=$3 url=$4 lua=$5 body=${6:-} auth=${7:-}
  local threads=2; [ "$conns" -lt 2 ] && threads=1
  local out
  out=$(BODY="$body" AUTH="$auth" wrk -t"$threads" -c"$conns" -d"${DURATION}s" --latency -s "$root/bench/$lua" "$url")
  echo "$out" | awk -v label="$label" -v conns="$conns" -v rss="$(hwm_mb "$pid")" '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /Requests\/sec/ { rps = $2 }
    /^ +50%/ { p50 = ms($2) }
    /^ +99%/ { p99 = ms($2) }
    /Non-2xx/ { errors += $NF }
    /Socket errors/ { gsub(/,/, ""); errors += $4 + $6 + $8 + $10 }
    END { printf "| %-44s | %4d | %9.0f | %7.2f | %7.2f | %6d | %7s |\n", label, conns, rps, p50, p99, errors, rss }'
}

header() {
  echo
  echo "### $1"
  echo
  echo "| endpoint | conc | req/s | p50 ms | p99 ms | errors | RSS MB (peak) |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
}

# start_latchkey NAME DATABASE_URL REDIS_URL: sets port and pid.
start_latchkey() {
  local name=$1 db=$2 redis=$3
  port=$(free_port)
  DATABASE_URL=$db REDIS_URL=$redis LATCHKEY_ACCESS_TOKEN_ALG=${ACCESS_ALG:-RS256} LATCHKEY_LISTEN=127.0.0.1:$port LATCHKEY_ISSUER=http://127.0.0.1:$port \
    LATCHKEY_LOG=warn "$bin" serve >"$tmp/$name.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  wait_http "http://127.0.0.1:$port/healthz"
}

run_latchkey() {
  local name=$1 db=$2 redis=$3 alg=${4:-RS256} short=${5:-}
  export DATABASE_URL=$db REDIS_URL=$redis
  "$bin" migrate >/dev/null
  local m2m web keyed
  m2m=$("$bin" clients create --name bench-m2m --grant-type client_credentials --scope bench:read --json)
  "$driver" keygen "$tmp/keys-$name"
  keyed=$("$bin" clients create --name bench-keyed --grant-type client_credentials --scope bench:read \
    --auth-method private_key_jwt --jwks-file "$tmp/keys-$name/jwks.json" --json)
  web=$("$bin" clients create --name bench-web --redirect-uri https://bench.example/cb --json)
  local user="bench$RANDOM$RANDOM" password="bench-Passphrase-42"
  printf '%s' "$password" | "$bin" users create --username "$user" --email "$user@example.com" --password-stdin >/dev/null
  local mid msecret wid wsecret
  mid=$(echo "$m2m" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])')
  msecret=$(echo "$m2m" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
  wid=$(echo "$web" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])')
  wsecret=$(echo "$web" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
  local kid
  kid=$(echo "$keyed" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])')
  unset DATABASE_URL REDIS_URL

  ACCESS_ALG=$alg start_latchkey "$name" "$db" "$redis"
  local base="http://127.0.0.1:$port"
  local basic
  basic="Basic $(printf '%s:%s' "$mid" "$msecret" | base64 -w0)"
  local access
  access=$("$driver" token "$base" "$wid" "$wsecret" "$user" "$password")
  echo "idle RSS before load: $(rss_mb "$pid") MB" >&2

  if [ -n "$short" ]; then
    header "Latchkey on $name, $alg access tokens"
    for c in 16 64; do
      wrk_row "/token client_credentials ($alg)" "$pid" "$c" "$base/token" post.lua "grant_type=client_credentials" "$basic"
    done
    wrk_row "/userinfo ($alg access token)" "$pid" 16 "$base/userinfo" get.lua "" "Bearer $access"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    return
  fi
  header "Latchkey on $name"
  for c in 1 16 64; do
    wrk_row "/token client_credentials" "$pid" "$c" "$base/token" post.lua "grant_type=client_credentials" "$basic"
  done
  wrk_row "/userinfo (valid access token)" "$pid" 16 "$base/userinfo" get.lua "" "Bearer $access"
  wrk_row "/introspect (valid access token)" "$pid" 16 "$base/introspect" post.lua "token=$access" "$basic"
  # Signed credentials are single-use, so wrk cannot replay them: the driver
  # sends these, one fresh assertion or proof per request, made before the
  # clock starts; its plain row is the baseline of the ratio.
  local plain_rps
  for mode in basic private_key_jwt dpop; do
    local label="/token client_credentials, driver: $mode" out rps
    case $mode in
      private_key_jwt) out=$("$driver" cc "$base" "$kid" - "$DURATION" 16 private_key_jwt "$tmp/keys-$name") ;;
      *) out=$("$driver" cc "$base" "$mid" "$msecret" "$DURATION" 16 "$mode") ;;
    esac
    rps=$(echo "$out" | awk '{print $3}')
    [ "$mode" = basic ] && plain_rps=$rps
    echo "$out" | awk -v label="$label" -v rss="$(hwm_mb "$pid")" -v base="$plain_rps" \
      '{ printf "| %-44s | %4d | %9.0f | %7s | %7s | %6d | %7s |\n", sprintf("%s (%.0f%%)", label, 100 * $3 / base), 16, $3, "-", "-", $4, rss }'
  done
  wrk_row "/.well-known/openid-configuration" "$pid" 16 "$base/.well-known/openid-configuration" get.lua
  wrk_row "/jwks.json" "$pid" 16 "$base/jwks.json" get.lua
  local signed_in sign_in
  signed_in=$("$driver" roundtrip "$base" "$wid" "$wsecret" "$user" "$password" "$DURATION" 8 signed-in)
  sign_in=$("$driver" roundtrip "$base" "$wid" "$wsecret" "$user" "$password" "$DURATION" 8 sign-in)
  echo "$signed_in" | awk -v rss="$(hwm_mb "$pid")" '{ printf "| %-44s | %4d | %9.1f | %7s | %7s | %6d | %7s |\n", "authorize+token round trip (signed in)", 8, $2, "-", "-", $3, rss }'
  echo "$sign_in" | awk -v rss="$(hwm_mb "$pid")" '{ printf "| %-44s | %4d | %9.1f | %7s | %7s | %6d | %7s |\n", "authorize+sign-in+token round trip", 8, $2, "-", "-", $3, rss }'
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

echo "## Latchkey benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ${DURATION}s per load"
echo
echo "Signing rate of our signing code (key parsed once and kept), signatures/s:"
echo
echo "| algorithm | one core | all cores |"
echo "|---|---:|---:|"
for alg in RS256 ES256 EdDSA; do
  "$driver" sign 5 "$alg" | awk '{ printf "| %s | %s | %s (%s cores) |\n", $2, $3, $4, $5 }'
done

run_latchkey "SQLite + in-process state" "sqlite://$tmp/bench.db" ""
run_latchkey "SQLite + in-process state" "sqlite://$tmp/bench-es256.db" "" ES256 short
run_latchkey "SQLite + in-process state" "sqlite://$tmp/bench-eddsa.db" "" EdDSA short

if pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1 && redis-cli -h 127.0.0.1 ping 2>/dev/null | grep -q PONG; then
  dbname=${PG_URL##*/}
  psql "${PG_URL%/*}/postgres" -qc "DROP DATABASE IF EXISTS $dbname" >/dev/null
  psql "${PG_URL%/*}/postgres" -qc "CREATE DATABASE $dbname" >/dev/null
  run_latchkey "PostgreSQL + Redis" "$PG_URL" "$REDIS"
else
  echo; echo "(PostgreSQL or Redis not reachable on 127.0.0.1: shared-backend run skipped)"
fi

if command -v node >/dev/null && command -v npm >/dev/null; then
  (cd bench/node && npm install --no-audit --no-fund --silent >/dev/null 2>&1)
  port=$(free_port)
  PORT=$port CLIENT_ID=bench CLIENT_SECRET=bench-secret-0123456789 node bench/node/server.mjs >"$tmp/node.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  wait_http "http://127.0.0.1:$port/.well-known/openid-configuration"
  header "node-oidc-provider $(node -p 'require("./bench/node/node_modules/oidc-provider/package.json").version') (node $(node --version)), same client_credentials work"
  basic="Basic $(printf 'bench:bench-secret-0123456789' | base64 -w0)"
  for c in 1 16 64; do
    wrk_row "/token client_credentials" "$pid" "$c" "http://127.0.0.1:$port/token" post.lua "grant_type=client_credentials&scope=bench:read" "$basic"
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
else
  echo; echo "(node not installed: node-oidc-provider run skipped)"
fi
