#!/usr/bin/env bash
# Proves, from the built .wasm files, the component contract spin.toml relies on:
# each core (engine) component imports nothing but WASI and exports its port;
# each glue component exports the Spin trigger interface it is triggered by;
# render_http.wasm (composed with its engine) imports nothing but WASI and
# serves wasi:http, so hosts other than Spin run it (docs/hosts.md).
# Usage: tests/check-components.sh target/wasm32-wasip2/release   (WASM_TOOLS=path optional)
set -euo pipefail
dir=${1:?usage: check-components.sh WASM_DIR}
wt=${WASM_TOOLS:-wasm-tools}
fail=0

wit() { "$wt" component wit "$dir/$1.wasm"; }

check_core() { # name, exported interface
  local name=$1 port=$2 out imports bad
  out=$(wit "$name")
  imports=$(grep -E '^\s*import ' <<<"$out" | sed -E 's/^\s*import //; s/;$//')
  echo "== $name.wasm imports:"; sed 's/^/     /' <<<"$imports"
  bad=$(grep -vE '^wasi:' <<<"$imports" || true)
  if [[ -n "$bad" ]]; then echo "FAIL $name imports non-WASI interfaces: $bad"; fail=1; fi
  if grep -qE "^\s*export $port;" <<<"$out"; then echo "ok   $name exports $port"
  else echo "FAIL $name does not export $port"; fail=1; fi
}

check_lacks() { # name, import pattern that must not appear, why
  local name=$1 pattern=$2 why=$3
  if wit "$name" | grep -qE "^\s*import $pattern"; then echo "FAIL $name imports $pattern: $why"; fail=1
  else echo "ok   $name does not import $pattern ($why)"; fi
}

check_glue() { # name, trigger export, engine import (optional)
  local name=$1 trigger=$2 engine=${3:-} out
  out=$(wit "$name")
  echo "== $name.wasm exports:"; grep -E '^\s*export ' <<<"$out" | sed -E 's/^\s*/     /'
  if grep -qE "^\s*export $trigger" <<<"$out"; then echo "ok   $name exports $trigger"
  else echo "FAIL $name does not export $trigger"; fail=1; fi
  if [[ -n "$engine" ]]; then
    if grep -qE "^\s*import $engine;" <<<"$out"; then echo "ok   $name imports its engine $engine"
    else echo "FAIL $name does not import $engine"; fail=1; fi
  fi
}

check_core normalizer_core  'thumbflow:pipeline/normalize@0.1.0'
check_core thumbnailer_core 'thumbflow:pipeline/thumbnail@0.1.0'
check_core thumbnailer_core_simple 'thumbflow:pipeline/thumbnail@0.1.0'
check_core notifier_core    'thumbflow:pipeline/notify@0.1.0'
check_core render_http      'wasi:http/incoming-handler@0\.2\.[0-9]+'
check_glue gateway     'wasi:http/incoming-handler@0\.2\.[0-9]+'
check_lacks gateway 'thumbflow:pipeline/' 'the pipeline gateway queues events, the stages run the engines'
check_glue gateway_inline_glue 'wasi:http/incoming-handler@0\.2\.[0-9]+' 'thumbflow:pipeline/thumbnail@0.1.0'
check_glue gateway_inline_glue 'wasi:http/incoming-handler@0\.2\.[0-9]+' 'thumbflow:pipeline/normalize@0.1.0'
check_glue gateway_inline_glue 'wasi:http/incoming-handler@0\.2\.[0-9]+' 'thumbflow:pipeline/notify@0.1.0'
check_glue gateway_inline 'wasi:http/incoming-handler@0\.2\.[0-9]+'
check_lacks gateway_inline 'thumbflow:pipeline/' 'composed: its three engines are plugged in'
check_lacks gateway_inline 'fermyon:spin/redis' 'the HTTP-only app has no Redis'
check_glue normalizer  'fermyon:spin/inbound-redis' 'thumbflow:pipeline/normalize@0.1.0'
check_glue thumbnailer 'fermyon:spin/inbound-redis' 'thumbflow:pipeline/thumbnail@0.1.0'
check_glue notifier    'fermyon:spin/inbound-redis' 'thumbflow:pipeline/notify@0.1.0'

if [[ $fail -ne 0 ]]; then echo "component contract check FAILED"; exit 1; fi
echo "component contract check passed: 3 cores and render_http import only WASI, 5 glues export their trigger"
