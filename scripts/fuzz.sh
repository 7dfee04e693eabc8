#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time and prints libFuzzer's figures.
#   FUZZ_SECONDS  per target (default 60; `make test` runs a 10 s smoke pass)
# The toolchain here is stable only; RUSTC_BOOTSTRAP lets cargo-fuzz pass its -Z flags
# (sanitizer, coverage) to it, which is what a nightly toolchain would accept anyway.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/env.sh
seconds="${FUZZ_SECONDS:-60}"
export RUSTC_BOOTSTRAP=1
cd fuzz
targets=$(cargo fuzz list)
cargo fuzz build -O 2>&1 | grep -E '^(error|warning)' -A5 || true
for target in $targets; do
  mkdir -p "corpus/$target"
  log="target/$target.log"
  mkdir -p target
  if ! cargo fuzz run -O "$target" "corpus/$target" -- -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log"
    echo "[fuzz] $target FAILED (crash input under fuzz/artifacts/$target)" >&2
    exit 1
  fi
  runs=$(grep -oE '^Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' || echo '?')
  corpus=$(find "corpus/$target" -type f | wc -l)
  printf '[fuzz] %-18s %12s runs in %ss, corpus %s inputs, no crash\n' "$target" "$runs" "$seconds" "$corpus"
done
