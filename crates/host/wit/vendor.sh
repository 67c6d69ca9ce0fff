#!/usr/bin/env bash
# Vendors the Spin WIT interfaces the host implements, unmodified, from the
# spin-sdk crate the components are built with (so host and guests agree).
# Usage: crates/host/wit/vendor.sh          # regenerate deps/
#        crates/host/wit/vendor.sh --check  # fail if deps/ drifted
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
sdk=$(cd "$root" && cargo metadata --format-version 1 --filter-platform wasm32-wasip2 \
  | python3 -c 'import json,sys; m=json.load(sys.stdin); print(next(p["manifest_path"] for p in m["packages"] if p["name"]=="spin-sdk"))')
src=$(dirname "$sdk")/wit/deps
out=$(mktemp -d)
mkdir -p "$out/spin@2.0.0" "$out/spin@unversioned"
for f in key-value redis variables; do cp "$src/spin@2.0.0/$f.wit" "$out/spin@2.0.0/"; done
for f in redis-types inbound-redis; do cp "$src/spin@unversioned/$f.wit" "$out/spin@unversioned/"; done
# The package declarations live in Spin's world.wit files, which pull in far
# more than the host implements; these one-line files declare the packages.
echo 'package fermyon:spin@2.0.0;' > "$out/spin@2.0.0/package.wit"
echo 'package fermyon:spin;' > "$out/spin@unversioned/package.wit"
if [[ "${1:-}" == "--check" ]]; then
  diff -r "$out" "$here/deps" && echo "vendored Spin WIT matches spin-sdk $(basename "$(dirname "$sdk")")"
else
  rm -rf "$here/deps" && mv "$out" "$here/deps" && echo "vendored Spin WIT from $(dirname "$sdk")"
fi
