#!/usr/bin/env bash
# Issue 4 benchmarks (bounded; everything on 127.0.0.1):
#   1. auto-bid evaluation, in-process: 500 buyers x 20 rules = 10 000 active
#      rules over the 50 verticals, `Leadex::run_auto_bids` timed over 1 000 leads;
#   2. end-to-end close latency against `leadex run` (SQLite, then PostgreSQL
#      when PG_ADMIN_URL is set, e.g. postgres://postgres@127.0.0.1/postgres):
#      20 buyers with a rule on every root vertical, open-loop leads at RATE/s
#      for DURATION s, 60-second auctions, wait until every auction closed;
#   3. issue 2's single-lead ingestion on SQLite (`leadex serve`), c=16 and 64.
# Usage: scripts/bench-issue4.sh [eval|e2e-sqlite|e2e-pg|ingest|all]
# PG_EXPLAIN_MS=10 logs, to the PostgreSQL server log, the plan of every statement slower than 10 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
# Benchmarks drive one key far past the production rate limits.
export LEADEX__RATE_LIMITS__ENABLED=false
WHAT=${1:-all}
RATE=${RATE:-300}
DURATION=${DURATION:-90}
PORT=${PORT:-18480}
OUT=${OUT:-target/bench-issue4}
mkdir -p "$OUT"
# BIN=<dir> runs prebuilt binaries (an A/B of two builds in alternating runs).
if [[ -z "${BIN:-}" ]]; then
  BIN=target/release
  cargo build --release -p leadex -p leadex-loadgen >&2
fi

wait_idle() {
  while pgrep -fa 'leadex-loadgen|leadex-queue-bench|bench-issue[0-35-9]|bullmq' >/dev/null; do sleep 20; done
}

SERVER_PID=""
cleanup() { if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi; }
trap cleanup EXIT

# start_server <mode run|serve> <data dir>  (LEADEX__DATABASE__URL may be set)
start_server() {
  local mode=$1 dir=$2
  rm -rf "$dir"; mkdir -p "$dir"
  ADMIN_KEY=$("$BIN/leadex" admin create-account --role admin --name bench --json --data-dir "$dir" | jq -r .api_key)
  "$BIN/leadex" --data-dir "$dir" --bind "127.0.0.1:$PORT" "$mode" >"$dir/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/health/live" >/dev/null && return 0; sleep 0.2; done
  echo "server did not start" >&2; exit 1
}

stop_server() { cleanup; SERVER_PID=""; }

e2e() { # e2e <label> <db url for the report>
  timeout $((DURATION + 600)) "$BIN/leadex-market-bench" e2e --base-url "http://127.0.0.1:$PORT" \
    --admin-key "$ADMIN_KEY" --database-url "$2" --buyers 20 --rate "$RATE" --duration-secs "$DURATION" \
    --drain-secs 240 | tee "$OUT/e2e-$1.json"
}

if [[ $WHAT == eval || $WHAT == all ]]; then
  wait_idle
  timeout 900 "$BIN/leadex-market-bench" eval --data-dir "$OUT/eval-data" --buyers 500 --rules-per-buyer 20 \
    --leads 1000 | tee "$OUT/eval.json"
fi

if [[ $WHAT == e2e-sqlite || $WHAT == all ]]; then
  wait_idle
  start_server run "$OUT/e2e-sqlite"
  e2e sqlite "sqlite:$OUT/e2e-sqlite/leadex.db"
  stop_server
fi

if [[ ($WHAT == e2e-pg || $WHAT == all) && -n "${PG_ADMIN_URL:-}" ]]; then
  wait_idle
  DB="leadex_bench_i4_$$"
  psql "$PG_ADMIN_URL" -qc "CREATE DATABASE $DB"
  if [[ -n "${PG_EXPLAIN_MS:-}" ]]; then
    # Diagnosis: the server log gets the plan of every statement slower than this.
    psql "$PG_ADMIN_URL" -qc "ALTER DATABASE $DB SET session_preload_libraries = 'auto_explain'" \
      -c "ALTER DATABASE $DB SET auto_explain.log_min_duration = '${PG_EXPLAIN_MS}ms'"
  fi
  PG_URL="${PG_ADMIN_URL%/*}/$DB"
  export LEADEX__DATABASE__URL="$PG_URL"
  LEADEX__PRIVACY__KEY="k1:$(head -c32 /dev/urandom | base64)"
  export LEADEX__PRIVACY__KEY
  start_server run "$OUT/e2e-pg"
  e2e pg "$PG_URL" || true
  stop_server
  unset LEADEX__DATABASE__URL LEADEX__PRIVACY__KEY
  psql "$PG_ADMIN_URL" -qc "DROP DATABASE $DB WITH (FORCE)"
fi

if [[ $WHAT == ingest || $WHAT == all ]]; then
  for c in 16 64; do
    wait_idle
    start_server serve "$OUT/ingest-sqlite-c$c"
    S=$(curl -sf -X POST "http://127.0.0.1:$PORT/v1/admin/accounts" -H "authorization: Bearer $ADMIN_KEY" \
      -H 'content-type: application/json' -d '{"role":"seller","name":"ingest"}')
    SID=$(jq -r .account_id <<<"$S")
    SKEY=$(jq -r .api_key <<<"$S")
    timeout 120 "$BIN/leadex-loadgen" ingest --base-url "http://127.0.0.1:$PORT" --key "$SKEY" \
      --admin-key "$ADMIN_KEY" --seller-id "$SID" --concurrency "$c" --duration-secs 25 \
      | tee "$OUT/ingest-sqlite-c$c.txt"
    stop_server
  done
fi
