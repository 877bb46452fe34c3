#!/usr/bin/env bash
# Issue 6 benchmarks (bounded; loopback only):
#   limit  rate-limit check cost, in-process vs Redis (leadex-limit-bench);
#   write  POST /v1/leads latency while READERS clients saturate GET /v1/leads,
#          with list queries on the replica (through PgBouncer) vs on the
#          primary — two `leadex serve` processes on one scale-out stack
#          (scripts/scale-out.sh, N=1 + one extra API without replica_url),
#          measured alternately ROUNDS times each in one run.
# Usage: scripts/bench-issue6.sh [limit|write|all]
set -euo pipefail
cd "$(dirname "$0")/.."
# Benchmarks drive one key far past the production rate limits.
export LEADEX__RATE_LIMITS__ENABLED=false
WHAT=${1:-all}
READERS=${READERS:-32}
WRITERS=${WRITERS:-4}
DURATION=${DURATION:-20}
ROUNDS=${ROUNDS:-2}
OUT=${OUT:-target/bench-issue6}
mkdir -p "$OUT"
BIN=target/release
cargo build --release -p leadex -p leadex-loadgen >&2

if [[ $WHAT == limit || $WHAT == all ]]; then
  timeout 120 "$BIN/leadex-limit-bench" --duration-secs 10 | tee "$OUT/limit.jsonl"
fi

if [[ $WHAT == write || $WHAT == all ]]; then
  export STATE=/tmp/leadex-bench6 DB=leadex_bench6 N=1 M=0 API_BASE_PORT=18800 BIN
  PRIMARY_ONLY=18890
  EXTRA_PID=""
  cleanup() {
    [ -n "$EXTRA_PID" ] && kill "$EXTRA_PID" 2>/dev/null || true
    scripts/scale-out.sh down >/dev/null 2>&1 || true
  }
  trap cleanup EXIT
  scripts/scale-out.sh down >/dev/null 2>&1 || true
  scripts/scale-out.sh up >&2
  # shellcheck disable=SC1091
  source "$STATE/env"
  # The same database, no replica: every list query on the primary.
  LEADEX__DATABASE__URL=$PRIMARY_URL LEADEX__PRIVACY__KEY=$PRIVACY_KEY LEADEX__LOG__LEVEL=warn \
    "$BIN/leadex" --data-dir "$STATE/primary-only" --bind "127.0.0.1:$PRIMARY_ONLY" serve >"$OUT/primary-only.log" 2>&1 &
  EXTRA_PID=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PRIMARY_ONLY/health/ready" >/dev/null && break; sleep 0.2; done
  ADMIN=$(LEADEX__DATABASE__URL=$PRIMARY_URL LEADEX__PRIVACY__KEY=$PRIVACY_KEY \
    "$BIN/leadex" --data-dir "$STATE/admin" admin create-account --role admin --name bench --json | jq -r .api_key)
  S=$(curl -sf -X POST "$API_URLS/v1/admin/accounts" -H "authorization: Bearer $ADMIN" \
    -H 'content-type: application/json' -d '{"role":"seller","name":"bench seller"}')
  KEY=$(jq -r .api_key <<<"$S"); SID=$(jq -r .account_id <<<"$S")
  # Something to list: 5 000 leads first.
  "$BIN/leadex-loadgen" ingest --base-url "$API_URLS" --key "$KEY" --admin-key "$ADMIN" --seller-id "$SID" \
    --concurrency 16 --batch 500 --duration-secs 5 --warmup-secs 0 --json >/dev/null
  : >"$OUT/write.jsonl"
  for round in $(seq 1 "$ROUNDS"); do
    for target in replica primary; do
      if [ $target = replica ]; then url=$API_URLS; else url=http://127.0.0.1:$PRIMARY_ONLY; fi
      "$BIN/leadex-loadgen" ingest --base-url "$url" --key "$KEY" --concurrency "$WRITERS" \
        --duration-secs "$DURATION" --warmup-secs 3 --read-load "$READERS" --read-path "/v1/leads?limit=50&vertical=solar" \
        --watch-comm postgres --watch-comm pgbouncer --label "$target-r$round" --json | tee -a "$OUT/write.jsonl"
    done
  done
fi
