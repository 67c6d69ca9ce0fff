#!/usr/bin/env bash
# `make up`: run spin.toml on thumbflow's host against REDIS_URL, or a local
# redis-server this script starts (and stops again on Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
host=${THUMBFLOW_HOST:-target/host/thumbflow}
state_dir=${THUMBFLOW_STATE_DIR:-.spin}
mkdir -p "$state_dir"

redis_pid=
cleanup() {
  if [[ -n "$redis_pid" ]]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

if [[ -z "${REDIS_URL:-}" ]]; then
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "redis-server not found on PATH: install it (apt-get install redis-server) or set REDIS_URL=redis://host:port" >&2
    exit 1
  fi
  port=${THUMBFLOW_REDIS_PORT:-6390}
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no >"$state_dir/redis.log" 2>&1 &
  redis_pid=$!
  for _ in $(seq 1 50); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  redis-cli -p "$port" ping >/dev/null 2>&1 || { echo "redis-server did not start; see $state_dir/redis.log" >&2; exit 1; }
  REDIS_URL=redis://127.0.0.1:$port
  echo "Started redis-server on $REDIS_URL (log: $state_dir/redis.log); set REDIS_URL to use your own"
fi

"$host" up --manifest spin.toml --listen "${LISTEN:-127.0.0.1:3000}" --state-dir "$state_dir" \
  --variable "redis_address=$REDIS_URL" "$@"
