#!/usr/bin/env bash
# `make dev`: installs what is missing, applies the D1 migrations, starts the gateway (its front
# and its back), the CYNOD simulator and the demo site under one `wrangler dev` on 127.0.0.1:${PORT:-8787}, seeds
# the demo data and prints where to go. State persists in .wrangler/state between runs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
source scripts/env.sh
PORT="${PORT:-8787}"
STATE=".wrangler/state"
wrangler d1 migrations apply DB --local --persist-to "$STATE" -c wrangler.toml >/dev/null
wrangler dev -c wrangler.toml -c wrangler.back.toml -c crates/cynod-sim/wrangler.toml -c wrangler.www.toml --local --ip 127.0.0.1 --port "$PORT" --persist-to "$STATE" &
wrangler_pid=$!
trap 'kill -INT $wrangler_pid 2>/dev/null; wait $wrangler_pid 2>/dev/null' EXIT INT TERM
ADMIN_API_KEY=$(sed -n 's/^ADMIN_API_KEY=//p' .dev.vars)
# Ready when every dependency answers (the operators' report; /healthz only says the Worker runs).
for _ in $(seq 1 600); do
  if curl -fsS -H "Authorization: Bearer $ADMIN_API_KEY" "http://127.0.0.1:$PORT/api/v1/admin/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 $wrangler_pid 2>/dev/null; then echo "wrangler dev exited" >&2; exit 1; fi
  sleep 0.5
done
curl -fsS -X POST -H "Authorization: Bearer $ADMIN_API_KEY" "http://127.0.0.1:$PORT/api/v1/admin/demo/seed" >/dev/null 2>&1 \
  || echo "(demo seed not available yet)"
cat <<MSG

  Dyno Edge is running on http://127.0.0.1:$PORT
    demo page     http://127.0.0.1:$PORT/   (POS /pos.html · wallet /wallet.html · console /console.html)
    API reference http://127.0.0.1:$PORT/docs   (quick start, operations, webhooks, sandbox scenarios)
    health        http://127.0.0.1:$PORT/healthz   (dependencies: /api/v1/admin/health, admin key)
    POS sandbox   client_id=pos_sandbox_demo  client_secret=sandbox_secret_demo
                  webhook_secret=sandbox_webhook_secret
    not affiliated client_id=pos_sandbox_unaffiliated  client_secret=unaffiliated_secret_demo (MERCHANT_NOT_FOUND)
    employee      wallet +21620000001 PIN 1234 · wallet +21620000002 PIN 4321
    admin key     $ADMIN_API_KEY   (from .dev.vars)
  Ctrl-C stops the stack.

MSG
wait $wrangler_pid
