#!/usr/bin/env bash
# Issue 8 benchmark: the cost of telemetry on ingestion. `leadex serve`
# (the ingestion path alone) under `leadex-loadgen ingest`, single
# `POST /v1/leads`, with telemetry ON (JSON logs at info to a file, the
# Prometheus recorder, /metrics scraped every 5 s) and OFF (log.level=off,
# telemetry.metrics=false), alternating ON/OFF order each round so drift
# falls on both. Reports medians per engine and mode and the ON/OFF ratio.
#
# Knobs (environment): ROUNDS=3 DURATION=15 WARMUP=3 CONCURRENCY=16
#   ENGINES="sqlite postgres" PG_URL=postgres://postgres@127.0.0.1:5432
#   PORT=18880 OUT=target/bench-telemetry SKIP_BUILD=1
# Every run uses a fresh data directory / database, is bounded in time, and
# every server it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
export LEADEX__RATE_LIMITS__ENABLED=false
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-15}
WARMUP=${WARMUP:-3}
CONCURRENCY=${CONCURRENCY:-16}
ENGINES=${ENGINES:-"sqlite postgres"}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
PORT=${PORT:-18880}
OUT=${OUT:-target/bench-telemetry}
OUT=$(mkdir -p "$OUT" && cd "$OUT" && pwd)
BIN="$OUT/bin"
BASE="http://127.0.0.1:$PORT"
SERVER_PID=""
SCRAPER_PID=""
DB=""
PRIVACY_KEY="k1:$(head -c 32 /dev/urandom | base64 -w0)"

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

stop_server() {
    [[ -n "$SCRAPER_PID" ]] && { kill "$SCRAPER_PID" 2>/dev/null || true; wait "$SCRAPER_PID" 2>/dev/null || true; }
    [[ -n "$SERVER_PID" ]] && { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }
    SERVER_PID=""
    SCRAPER_PID=""
    if [[ -n "$DB" ]]; then
        psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
        DB=""
    fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM

if [[ -z "${SKIP_BUILD:-}" ]]; then
    log "building release binaries"
    cargo build --release -p leadex -p leadex-loadgen
fi
mkdir -p "$BIN"
if [[ -z "${SKIP_BUILD:-}" || ! -x "$BIN/leadex" ]]; then
    cp target/release/leadex target/release/leadex-loadgen "$BIN/"
fi

# run_one <engine> <on|off> <round>
run_one() {
    local engine=$1 mode=$2 round=$3 dir="$OUT/data-$1-$2-$3"
    rm -rf "$dir"
    mkdir -p "$dir"
    local -a env=(LEADEX__DATA_DIR="$dir" LEADEX__SERVER__BIND="127.0.0.1:$PORT")
    if [[ $engine == postgres ]]; then
        DB="leadex_bench_tel_$$"
        psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
        psql -q "$PG_URL/postgres" -c "CREATE DATABASE $DB" >/dev/null
        env+=(LEADEX__DATABASE__URL="$PG_URL/$DB" LEADEX__PRIVACY__KEY="$PRIVACY_KEY")
    fi
    if [[ $mode == on ]]; then
        env+=(LEADEX__LOG__LEVEL=info LEADEX__LOG__FORMAT=json LEADEX__TELEMETRY__METRICS=true)
    else
        env+=(LEADEX__LOG__LEVEL=off LEADEX__TELEMETRY__METRICS=false)
    fi
    local admin seller seller_id
    admin=$(env "${env[@]}" "$BIN/leadex" admin create-account --role admin --name bench --json 2>/dev/null | jq -r .api_key)
    seller=$(env "${env[@]}" "$BIN/leadex" admin create-account --role seller --name bench --json 2>/dev/null)
    seller_id=$(jq -r .account_id <<<"$seller")
    env "${env[@]}" "$BIN/leadex" serve >"$dir/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 100); do curl -sf "$BASE/health/live" >/dev/null && break; sleep 0.2; done
    if [[ $mode == on ]]; then
        (while true; do curl -sf "$BASE/metrics" >/dev/null || true; sleep 5; done) &
        SCRAPER_PID=$!
    fi
    timeout $((DURATION + WARMUP + 120)) "$BIN/leadex-loadgen" ingest --base-url "$BASE" \
        --key "$(jq -r .api_key <<<"$seller")" --admin-key "$admin" --seller-id "$seller_id" \
        --concurrency "$CONCURRENCY" --duration-secs "$DURATION" --warmup-secs "$WARMUP" \
        --server-pid "$SERVER_PID" --label "$engine $mode round $round" --json \
        | jq -c --arg engine "$engine" --arg mode "$mode" --arg logbytes "$(stat -c %s "$dir/server.log")" \
            '{engine: $engine, telemetry: $mode, leads_per_sec, p50_ms: (.latency.p50_us / 1000), p99_ms: (.latency.p99_us / 1000), errors, server_cores: .cpu.cores_used.server}' \
        | tee -a "$OUT/runs.jsonl"
    stop_server
    rm -rf "$dir"
}

: >"$OUT/runs.jsonl"
for engine in $ENGINES; do
    for round in $(seq 1 "$ROUNDS"); do
        if ((round % 2)); then order="on off"; else order="off on"; fi
        for mode in $order; do
            log "$engine round $round telemetry $mode"
            run_one "$engine" "$mode" "$round"
        done
    done
done

log "medians"
jq -s -r '
  def median: sort | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  group_by(.engine)[] as $e
  | ($e | map(select(.telemetry == "on"))) as $on
  | ($e | map(select(.telemetry == "off"))) as $off
  | ($on | map(.leads_per_sec) | median) as $lon
  | ($off | map(.leads_per_sec) | median) as $loff
  | "\($e[0].engine): leads/s ON \($lon) (runs \($on | map(.leads_per_sec))), OFF \($loff) (runs \($off | map(.leads_per_sec))); ON/OFF = \(($lon / $loff * 1000 | round) / 1000) (cost \(((1 - $lon / $loff) * 1000 | round) / 10) %); p50 ms ON \($on | map(.p50_ms) | median) OFF \($off | map(.p50_ms) | median); p99 ms ON \($on | map(.p99_ms) | median) OFF \($off | map(.p99_ms) | median)"
' "$OUT/runs.jsonl" | tee "$OUT/summary.txt"
