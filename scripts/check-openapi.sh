#!/usr/bin/env bash
# Checks that docs/openapi.yaml is a valid OpenAPI document (openapi-spec-validator, pinned in
# tests/contract/requirements.txt), plus what that validator cannot see (tests/contract/
# check_document.py: no null keys, valid x-webhooks and their examples), and that a code generator
# reads it as intended: openapi-typescript generates its types and tests/contract/codegen/usage.ts
# must type-check against them.
# Generated files go to target/openapi-codegen/ (never committed). Part of `make lint`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/env.sh
tools/venv/bin/openapi-spec-validator docs/openapi.yaml
tools/venv/bin/python tests/contract/check_document.py docs/openapi.yaml
out=target/openapi-codegen
rm -rf "$out" && mkdir -p "$out"
openapi-typescript docs/openapi.yaml --output "$out/dyno-api.ts" >/dev/null
cp tests/contract/codegen/usage.ts "$out/usage.ts"
tsc --noEmit --strict --target es2022 --module nodenext --moduleResolution nodenext \
  --skipLibCheck "$out/usage.ts"
echo "[openapi] docs/openapi.yaml is valid OpenAPI; generated TypeScript types type-check"
