#!/usr/bin/env bash
# Issue 2 benchmarks, end to end (see BENCHMARKS.md):
#   1. ingestion on SQLite and PostgreSQL: 16 and 64 closed-loop clients,
#      single `POST /v1/leads` and `POST /v1/leads:batch` (100 per request),
#      with the server as `serve` (API only: the ingestion path alone) and
#      as `run` (API + job workers scoring/auctioning what comes in);
#   2. listing at depth: 1 000 000 leads, page 1 vs page 10 000 via the
#      cursor, and the same pages via SQL OFFSET.
# Every run uses a fresh data directory / PostgreSQL database, is bounded in
# time, and every server it starts is stopped on exit.
#
# Knobs (environment): DURATION=25 WARMUP=3 BATCH=100 CONCURRENCY="16 64"
#   ENGINES="sqlite postgres" ROLES="serve run" DEPTH_ROWS=1000000 PORT=18080
#   PG_URL=postgres://postgres@127.0.0.1:5432 OUT=target/bench-issue2
#   SKIP_BUILD=1 (use existing release binaries) SKIP_INGEST=1 SKIP_DEPTH=1
#   QUIET_PCT=25 (before each run, wait until at most this % of the CPU is busy)
#   KEEP_DATA=1 (keep the data directories; PostgreSQL databases are dropped)
set -euo pipefail
cd "$(dirname "$0")/.."
# Benchmarks drive one key far past the production rate limits.
export LEADEX__RATE_LIMITS__ENABLED=false

DURATION=${DURATION:-25}
WARMUP=${WARMUP:-3}
BATCH=${BATCH:-100}
CONCURRENCY=${CONCURRENCY:-"16 64"}
ENGINES=${ENGINES:-"sqlite postgres"}
ROLES=${ROLES:-"serve run"}
DEPTH_ROWS=${DEPTH_ROWS:-1000000}
PORT=${PORT:-18080}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
OUT=${OUT:-target/bench-issue2}
QUIET_PCT=${QUIET_PCT:-25}
BASE="http://127.0.0.1:${PORT}"
OUT=$(mkdir -p "$OUT" && cd "$OUT" && pwd)
BIN="$OUT/bin"
SERVER_PID=""
PG_DBS=()

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

cleanup() {
    stop_server
    for db in "${PG_DBS[@]}"; do
        psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -z "${SKIP_BUILD:-}" ]]; then
    log "building release binaries"
    cargo build --release -p leadex -p leadex-loadgen
fi
# Private copies: a concurrent rebuild cannot swap them mid-run. With
# SKIP_BUILD, copies made by an earlier run are reused as they are.
mkdir -p "$BIN"
if [[ -z "${SKIP_BUILD:-}" || ! -x "$BIN/leadex" || ! -x "$BIN/leadex-loadgen" ]]; then
    cp target/release/leadex target/release/leadex-loadgen "$BIN/"
fi

# CPU ticks (user + system) of the running server and of PostgreSQL.
server_ticks() {
    local s=0 p
    if [[ -n "$SERVER_PID" && -r /proc/$SERVER_PID/stat ]]; then
        s=$(sed 's/^.*) //' "/proc/$SERVER_PID/stat" | awk '{print $12 + $13}')
    fi
    p=$(cat /proc/[0-9]*/stat 2>/dev/null | awk '$2 == "(postgres)" {t += $14 + $15} END {print t + 0}')
    echo $((s + p))
}

# Busy share of the machine over 2 s, in percent, not counting our own
# server and PostgreSQL (with `run`, the workers keep draining the job
# backlog between runs).
busy_pct() {
    local a b sa sb
    read -r -a a < <(head -1 /proc/stat)
    sa=$(server_ticks)
    sleep 2
    read -r -a b < <(head -1 /proc/stat)
    sb=$(server_ticks)
    local t=0 i=0
    for k in 1 2 3 4 5 6 7 8; do t=$((t + b[k] - a[k])); done
    i=$((b[4] - a[4] + b[5] - a[5]))
    echo $(( t > 0 ? 100 * (t - i - (sb - sa)) / t : 0 ))
}

# Waits (at most 5 minutes) until other work on the machine has calmed down.
wait_quiet() {
    local waited=0 b
    while b=$(busy_pct); (( b > QUIET_PCT )); do
        if (( waited >= 300 )); then log "machine still ${b}% busy after 5 min; running anyway"; return; fi
        log "machine ${b}% busy (others); waiting"
        sleep 8
        waited=$((waited + 10))
    done
}

# new_env ENGINE NAME: fresh data dir (and database); sets DIR, ENV, DB_URL.
new_env() {
    local engine=$1 name=$2
    DIR="$OUT/data-$name"
    rm -rf "$DIR"
    mkdir -p "$DIR"
    ENV=(LEADEX__LOG__LEVEL=warn)
    if [[ $engine == postgres ]]; then
        local db="bench_${name//-/_}"
        psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
        psql -q "$PG_URL/postgres" -c "CREATE DATABASE $db" >/dev/null
        PG_DBS+=("$db")
        DB_URL="$PG_URL/$db"
        ENV+=(LEADEX__DATABASE__URL="$DB_URL" LEADEX__PRIVACY__KEY="k1:$(head -c 32 /dev/urandom | base64 -w0)")
    else
        DB_URL="sqlite://$DIR/leadex.db"
    fi
}

leadex() { env "${ENV[@]}" "$BIN/leadex" --data-dir "$DIR" "$@"; }

# create_account ROLE NAME → prints {"account_id","api_key"}.
create_account() { leadex admin create-account --role "$1" --name "$2" --json 2>>"$DIR/admin.log"; }

start_server() {
    local role=$1
    env "${ENV[@]}" "$BIN/leadex" --data-dir "$DIR" --bind "127.0.0.1:$PORT" "$role" >>"$DIR/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 300); do
        if curl -sf "$BASE/health/ready" >/dev/null 2>&1; then return 0; fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then log "server exited:"; tail -20 "$DIR/server.log" >&2; exit 1; fi
        sleep 0.1
    done
    log "server not ready after 30 s"
    exit 1
}

stop_server() {
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}

{
    echo "date: $(date -u)"
    echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (dirty tree)')"
    echo "nproc: $(nproc)"
    grep -m1 'model name' /proc/cpuinfo
    free -h
    psql -At "$PG_URL/postgres" -c "SELECT 'postgres ' || version()" 2>/dev/null || true
    psql -At "$PG_URL/postgres" -c "SELECT name || '=' || setting FROM pg_settings WHERE name IN
        ('synchronous_commit','fsync','shared_buffers','max_connections','wal_level')" 2>/dev/null || true
} >"$OUT/machine.txt"
: >"$OUT/ingest.jsonl"
: >"$OUT/depth.jsonl"

if [[ -z "${SKIP_INGEST:-}" ]]; then
    for engine in $ENGINES; do
        for role in $ROLES; do
            new_env "$engine" "$engine-$role"
            seller=$(create_account seller bench-seller)
            admin=$(create_account admin bench-admin)
            start_server "$role"
            for c in $CONCURRENCY; do
                for mode in single batch; do
                    wait_quiet
                    extra=()
                    [[ $mode == batch ]] && extra=(--batch "$BATCH")
                    watch=()
                    [[ $engine == postgres ]] && watch=(--watch-comm postgres)
                    log "ingest $engine $role c=$c $mode"
                    timeout $((DURATION + WARMUP + 120)) "$BIN/leadex-loadgen" ingest --base-url "$BASE" \
                        --key "$(jq -r .api_key <<<"$seller")" --admin-key "$(jq -r .api_key <<<"$admin")" \
                        --seller-id "$(jq -r .account_id <<<"$seller")" --concurrency "$c" \
                        --duration-secs "$DURATION" --warmup-secs "$WARMUP" --server-pid "$SERVER_PID" \
                        --label "$engine $role" --json "${extra[@]}" "${watch[@]}" | tee -a "$OUT/ingest.jsonl" >&2
                    # The job backlog left behind (with `serve` nothing drains it).
                    curl -s "$BASE/metrics" | grep '^leadex_queue_depth' \
                        >"$OUT/queue-$engine-$role-c$c-$mode.txt" || true
                done
            done
            stop_server
            if [[ -z "${KEEP_DATA:-}" ]]; then rm -rf "$DIR"; fi
        done
    done
fi

if [[ -z "${SKIP_DEPTH:-}" ]]; then
    for engine in $ENGINES; do
        new_env "$engine" "$engine-depth"
        seller=$(create_account seller depth-seller)
        start_server serve
        log "list-depth $engine: seeding $DEPTH_ROWS leads and measuring"
        wait_quiet
        timeout 1800 "$BIN/leadex-loadgen" list-depth --base-url "$BASE" --db-url "$DB_URL" \
            --seller-id "$(jq -r .account_id <<<"$seller")" --rows "$DEPTH_ROWS" --label "$engine" --json \
            | tee -a "$OUT/depth.jsonl" >&2
        stop_server
        if [[ -z "${KEEP_DATA:-}" ]]; then rm -rf "$DIR"; fi
    done
fi

# Tables for BENCHMARKS.md.
{
    cat "$OUT/machine.txt"
    echo
    echo "| engine | server | clients | mode | leads/s | requests/s | p50 ms | p90 ms | p99 ms | max ms | errors | server cores | postgres cores | loadgen cores | other cores |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    jq -r 'def ms: (. / 10 | round / 100); [(.label | split(" ") | .[0], .[1]), .concurrency, .mode, .leads_per_sec,
        .requests_per_sec, (.latency.p50_us | ms), (.latency.p90_us | ms), (.latency.p99_us | ms),
        (.latency.max_us | ms), (([.errors[]] | add // 0) + ([.item_errors[]] | add // 0)),
        (.cpu.cores_used.server // 0), (.cpu.cores_used.postgres // "-"), (.cpu.cores_used.loadgen // 0),
        .cpu.other_cores] | "| " + (map(tostring) | join(" | ")) + " |"' "$OUT/ingest.jsonl"
    echo
    echo "| engine | leads | HTTP page 1 p50 / p99 ms | HTTP page 10 000 p50 / p99 ms | cursor ratio p50 (p99) | SQL page 1 p50 ms | SQL OFFSET 999 900 p50 / p99 ms | offset ratio p50 | SQL keyset deep p50 ms |"
    echo "|---|---|---|---|---|---|---|---|---|"
    jq -r 'def ms: (. / 10 | round / 100); [.engine, .leads,
        "\(.http_cursor.first.p50_us | ms) / \(.http_cursor.first.p99_us | ms)",
        "\(.http_cursor.deep.p50_us | ms) / \(.http_cursor.deep.p99_us | ms)",
        "\(.http_cursor.ratio_p50) (\(.http_cursor.ratio_p99))",
        (.sql_offset.first.p50_us | ms),
        "\(.sql_offset.deep.p50_us | ms) / \(.sql_offset.deep.p99_us | ms)",
        .sql_offset.ratio_p50, (.sql_keyset.deep.p50_us | ms)] | "| " + (map(tostring) | join(" | ")) + " |"' \
        "$OUT/depth.jsonl"
} | tee "$OUT/summary.md"
log "results in $OUT (ingest.jsonl, depth.jsonl, summary.md)"
