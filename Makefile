# The two commands a newcomer needs: `make dev` and `make test`. Both install what they need.
SHELL := /bin/bash
NATIVE_PACKAGES := -p dyno-core -p dyno-client
WASM_PACKAGES := -p dyno-edge -p cynod-sim -p bench-hello -p bench-rust-reference

.PHONY: dev test setup build unit wasm-test e2e lint openapi fmt bench fuzz fuzz-smoke

dev:
	@scripts/dev.sh

test: setup lint unit wasm-test fuzz-smoke build e2e
	@echo "make test: all layers passed"

setup:
	@scripts/setup.sh

build: setup
	@source scripts/env.sh && DYNO_NO_OPT=1 scripts/build-worker.sh . front && DYNO_NO_OPT=1 scripts/build-worker.sh . back \
		&& cd crates/cynod-sim && DYNO_NO_OPT=1 ../../scripts/build-worker.sh .

# Layer 1: the pure domain and the client, natively.
unit: setup
	cargo test $(NATIVE_PACKAGES)
	cargo test -p cynod-sim --lib

# Layer 2: code that must behave the same on wasm32, under node with wasm-bindgen-test.
wasm-test: setup
	@source scripts/env.sh && CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
		cargo test -p dyno-edge --target wasm32-unknown-unknown --test wasm

# Fuzzing (cargo-fuzz, libFuzzer) of the parsers and verifiers that read untrusted bytes:
# `make fuzz` runs each target FUZZ_SECONDS (default 60); `make test` runs a 10 s smoke pass.
fuzz: setup
	@scripts/fuzz.sh

fuzz-smoke: setup
	@FUZZ_SECONDS=10 scripts/fuzz.sh

# Layer 3: end to end against a real wrangler dev (contract and schemathesis included).
e2e: build
	@scripts/setup-browser.sh
	@source scripts/env.sh && cargo test -p dyno-e2e -- --test-threads=8

lint: setup openapi
	cargo fmt --all -- --check
	cargo fmt --manifest-path fuzz/Cargo.toml -- --check
	cargo clippy $(NATIVE_PACKAGES) -p dyno-e2e --all-targets -- -D warnings
	cargo clippy $(WASM_PACKAGES) --target wasm32-unknown-unknown -- -D warnings
	cargo clippy -p dyno-edge --target wasm32-unknown-unknown --no-default-features --features front -- -D warnings
	cargo clippy -p dyno-edge --target wasm32-unknown-unknown --no-default-features --features back -- -D warnings

# The API document is valid OpenAPI, and generated TypeScript types from it type-check.
openapi: setup
	@scripts/check-openapi.sh

fmt:
	cargo fmt --all
	cargo fmt --manifest-path fuzz/Cargo.toml

# Figures, not assertions: optimized build, then req/s and p50/p95/p99 per route against a floor.
bench: setup
	@source scripts/env.sh && DYNO_FORCE_BUILD=1 scripts/build-worker.sh . front \
		&& DYNO_FORCE_BUILD=1 scripts/build-worker.sh . back \
		&& (cd crates/cynod-sim && DYNO_FORCE_BUILD=1 ../../scripts/build-worker.sh .) \
		&& (cd crates/bench-hello && DYNO_FORCE_BUILD=1 ../../scripts/build-worker.sh .) \
		&& (cd crates/bench-rust-reference && DYNO_FORCE_BUILD=1 ../../scripts/build-worker.sh .)
	@source scripts/env.sh && cargo run --release -q -p dyno-e2e --bin bench
