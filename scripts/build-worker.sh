#!/usr/bin/env bash
# Builds one Rust Worker with worker-build; wrangler runs this as the [build] command on every
# start. Usage: build-worker.sh <crate dir> [front|back]
#   The gateway crate (.) is two Workers (its Cargo features): `front` builds into build/ (the
#   gateway, wrangler.toml), `back` into build-back/ (wrangler.back.toml). Other crates take no part.
#   Builds run one at a time (a lock in target/): wrangler starts every config's build at once, and
#   two builds of one crate with other features would overwrite each other's cargo output.
#   Skips the build when the output is newer than every Rust source, manifest and the lockfile, so
#   starting another stack (tests, bench) costs no rebuild.
#   DYNO_NO_OPT=1  skip wasm-opt on a fresh build (saves ~3 s; used by tests)
# wasm-opt runs here rather than inside worker-build, because worker-build always keeps the names
# section (--debuginfo): 226 KB raw of the gateway. Measured 2026-11-23: -O --debuginfo 651 KB gzip,
# -Oz without names 567 KB gzip (opt-level "z").
#   DYNO_FORCE_BUILD=1  always build
# An up-to-date build made with DYNO_NO_OPT=1 (by the tests) is marked, and a later build that
# wants wasm-opt (`make dev`, `wrangler deploy`) optimizes it then, so a deploy after `make test`
# never ships the unoptimized WASM.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
crate="${1:-.}"
part="${2:-}"
out_dir=build
cargo_features=()
case "$part" in
  "")
    if [ "$(cd "$crate" && pwd)" = "$DYNO_ROOT" ]; then
      echo "build-worker.sh: the gateway is built as its front or its back: build-worker.sh . front|back" >&2
      exit 2
    fi ;;
  front) cargo_features=(--no-default-features --features front) ;;
  back) out_dir=build-back; cargo_features=(--no-default-features --features back) ;;
  *) echo "build-worker.sh: unknown part '$part' (front or back)" >&2; exit 2 ;;
esac
mkdir -p "$DYNO_ROOT/target"
exec 9>"$DYNO_ROOT/target/.build-worker.lock"
flock 9
output="$crate/$out_dir/index.js"
unoptimized="$crate/$out_dir/.unoptimized"
optimize() {
  local wasm="$crate/$out_dir/index_bg.wasm"
  wasm-opt "$wasm" -Oz -o "$wasm.opt" \
    --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int --enable-bulk-memory \
    --enable-multivalue --enable-reference-types --enable-exception-handling
  mv "$wasm.opt" "$wasm"
  rm -f "$unoptimized"
}
if [ "${DYNO_FORCE_BUILD:-0}" != 1 ] && [ -f "$output" ]; then
  newer=$(find "$DYNO_ROOT/src" "$DYNO_ROOT/crates" "$DYNO_ROOT/Cargo.toml" "$DYNO_ROOT/Cargo.lock" \
    "$DYNO_ROOT/build.rs" "$DYNO_ROOT/docs/openapi.yaml" \
    \( -name "*.rs" -o -name Cargo.toml -o -name Cargo.lock -o -name openapi.yaml \) -newer "$output" -print -quit 2>/dev/null || true)
  if [ -z "$newer" ]; then
    if [ "${DYNO_NO_OPT:-0}" != 1 ] && [ -f "$unoptimized" ]; then
      echo "[build-worker] $crate${part:+ ($part)} is up to date but unoptimized: running wasm-opt"
      optimize
    else
      echo "[build-worker] $crate${part:+ ($part)} is up to date"
    fi
    exit 0
  fi
fi
worker-build --release --no-opt --out-dir "$out_dir" "$crate" ${cargo_features[@]+"${cargo_features[@]}"}
if [ "${DYNO_NO_OPT:-0}" != 1 ]; then
  optimize
else
  touch "$unoptimized"
fi
